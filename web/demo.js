// The pushwire demo: pick a transport, subscribe to a channel, watch messages arrive
// with their seq and latency, publish.
(async function () {
  const $ = (id) => document.getElementById(id);
  const PushWire = await createPushWire();
  let client = null;
  let sub = null;
  let count = 0;

  const origin = location.origin;
  const setCurl = () => {
    $('curl-hint').textContent =
      `curl -d '{"channel":"${$('channel').value}","data":{"hello":1}}' ${origin}/pushwire/publish`;
  };
  setCurl();
  $('channel').addEventListener('input', setCurl);

  function showState(state, reason) {
    $('state').textContent = state;
    $('state-dot').className = 'dot ' + state;
    $('reason').textContent = reason || '';
    $('active-transport').textContent = client && client.transport !== 'auto' ? client.transport : '–';
  }

  function addRow(html, cls) {
    $('empty').style.display = 'none';
    const li = document.createElement('li');
    if (cls) li.className = cls;
    li.innerHTML = html;
    const list = $('messages');
    list.prepend(li);
    while (list.children.length > 200) list.lastChild.remove();
  }

  const escape = (s) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));

  function connect() {
    if (client) client.close();
    // A new subscription: the counter and the list start over together.
    count = 0;
    $('count').textContent = '0';
    $('messages').replaceChildren();
    $('empty').style.display = '';
    const transport = $('transport').value;
    const channel = $('channel').value.trim();
    client = new PushWire.Client(origin, { transport, pollIntervalMs: 1000 });
    const off = client.onStateChange(showState);
    showState(client.state, '');
    try {
      sub = client.subscribe(channel, (msg) => {
        const latency = Math.max(0, Date.now() - msg.time);
        count += 1;
        $('count').textContent = String(count);
        $('latency').textContent = latency + ' ms';
        addRow(`<span class="seq">#${msg.seq}</span><span class="ch">${escape(msg.channel)}</span>` +
               `<span class="data">${escape(JSON.stringify(msg.data))}</span><span class="lat">${latency} ms</span>`);
      }, {
        onGap: (gap) => addRow(`⚠ gap on ${escape(gap.channel)}: messages ${gap.from}–${gap.to === null ? '?' : gap.to} are no longer available (${gap.reason})`, 'gap'),
        onError: (err) => showState('error', err.message),
      });
    } catch (err) {
      // A refused channel name: the client goes, and the error stays on screen (a later
      // state change of that client would otherwise paint it over with "connected").
      off();
      client.close();
      client = null;
      showState('error', err.message);
    }
  }

  $('connect').addEventListener('click', connect);
  $('publish-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!client) connect();
    if (!client) return;  // the channel was refused: the error is shown
    const text = $('message').value || 'hello';
    try {
      const seq = await client.publish($('channel').value.trim(), { text, sentAt: new Date().toISOString() });
      $('publish-result').textContent = `published as seq ${seq}`;
      $('message').value = '';
    } catch (err) {
      $('publish-result').textContent = `publish refused: ${err.code}: ${err.message}`;
    }
  });
  connect();
  window.pushwireDemo = { get client() { return client; } };
})();
