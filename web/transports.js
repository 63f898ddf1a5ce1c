// The four transports side by side: one client per transport on one channel, a publisher
// at a chosen rate, and what each one does, measured in this page.
(async function () {
  const PushWire = await createPushWire();
  const TRANSPORTS = [
    { name: 'websocket', title: 'WebSocket', path: '/pushwire/ws' },
    { name: 'sse', title: 'Server-Sent Events', path: '/pushwire/sse' },
    { name: 'longpoll', title: 'Long polling', path: '/pushwire/longpoll' },
    { name: 'poll', title: 'Polling (1 s)', path: '/pushwire/poll' },
  ];
  const channel = 'side-' + Math.random().toString(36).slice(2, 8);
  document.getElementById('channel-name').textContent = 'channel ' + channel;
  const published = new Map();  // n -> page time of publish
  let nextN = 1;
  const lanes = [];

  for (const t of TRANSPORTS) {
    const col = document.createElement('section');
    col.className = 'card col';
    col.innerHTML = `<h2><span class="dot" data-k="dot"></span>${t.title}</h2>
      <dl>
        <dt>state</dt><dd data-k="state">–</dd>
        <dt>received</dt><dd data-k="received">0</dd>
        <dt>lost / repeated</dt><dd data-k="loss">0 / 0</dd>
        <dt>messages/s (5 s)</dt><dd data-k="rate">–</dd>
        <dt>latency p50</dt><dd data-k="p50">–</dd>
        <dt>latency p99</dt><dd data-k="p99">–</dd>
        <dt>HTTP requests</dt><dd data-k="requests">–</dd>
        <dt>bytes per message</dt><dd data-k="bytes">–</dd>
        <dt>reconnects</dt><dd data-k="reconnects">0</dd>
      </dl>
      <canvas width="300" height="70"></canvas>`;
    document.getElementById('side').appendChild(col);
    const lane = { t, col, got: new Set(), received: 0, repeated: 0, latencies: [], times: [], reconnects: -1,
      position: '', client: null, sub: null, el: (k) => col.querySelector(`[data-k="${k}"]`),
      canvas: col.querySelector('canvas') };
    lanes.push(lane);
    open(lane);
  }

  function open(lane) {
    lane.reconnects++;
    lane.client = new PushWire.Client(location.origin, { transport: lane.t.name, pollIntervalMs: 1000 });
    lane.client.onStateChange((state) => {
      lane.el('state').textContent = state;
      lane.el('dot').className = 'dot ' + state;
    });
    lane.sub = lane.client.subscribe(channel, (m) => {
      const n = m.data.n;
      if (lane.got.has(n)) { lane.repeated++; return; }
      lane.got.add(n);
      lane.received++;
      const now = performance.now();
      lane.times.push(now);
      if (published.has(n)) lane.latencies.push(now - published.get(n));
    }, lane.position ? { since: lane.position } : { since: '0' });
  }

  // The publisher: one POST per message, at the chosen rate.
  let timer = null;
  document.getElementById('start').onclick = () => {
    clearInterval(timer);
    const rate = Math.max(1, Math.min(500, Number(document.getElementById('rate').value) || 20));
    timer = setInterval(() => {
      const n = nextN++;
      published.set(n, performance.now());
      fetch('/pushwire/publish', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ channel, data: { n } }) }).catch(() => {});
    }, 1000 / rate);
  };
  document.getElementById('stop').onclick = () => { clearInterval(timer); timer = null; };
  document.getElementById('cut').onclick = () => {
    for (const lane of lanes) {
      lane.position = lane.sub.position || lane.position;
      lane.client.close();
      open(lane);
    }
  };

  const pct = (xs, p) => {
    if (!xs.length) return null;
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(p * s.length))];
  };
  function render() {
    const now = performance.now();
    const entries = performance.getEntriesByType('resource');
    for (const lane of lanes) {
      lane.times = lane.times.filter((x) => now - x <= 5000);
      if (lane.latencies.length > 2000) lane.latencies = lane.latencies.slice(-2000);
      const highest = nextN - 1;
      let missing = 0;
      // Lost: published, older than 5 s, never delivered (a slow transport is not "lost").
      for (const [n, at] of published) if (now - at > 5000 && n <= highest && !lane.got.has(n)) missing++;
      lane.el('received').textContent = String(lane.received);
      lane.el('loss').textContent = `${missing} / ${lane.repeated}`;
      lane.el('rate').textContent = lane.times.length ? (lane.times.length / 5).toFixed(1) : '–';
      const p50 = pct(lane.latencies, 0.5), p99 = pct(lane.latencies, 0.99);
      lane.el('p50').textContent = p50 === null ? '–' : p50.toFixed(1) + ' ms';
      lane.el('p99').textContent = p99 === null ? '–' : p99.toFixed(1) + ' ms';
      lane.el('reconnects').textContent = String(lane.reconnects);
      const mine = entries.filter((e) => new URL(e.name).pathname === lane.t.path);
      if (lane.t.name === 'websocket') {
        lane.el('requests').textContent = '– (frames on one connection)';
        lane.el('bytes').textContent = 'not visible to the page';
      } else {
        lane.el('requests').textContent = String(mine.length);
        const bytes = mine.reduce((sum, e) => sum + (e.transferSize || 0), 0);
        lane.el('bytes').textContent = lane.t.name === 'sse' ? 'open stream'
          : lane.received ? (bytes / lane.received).toFixed(0) + ' B' : '–';
      }
      drawChart(lane);
    }
  }
  function drawChart(lane) {
    const c = lane.canvas.getContext('2d');
    const w = lane.canvas.width, h = lane.canvas.height;
    c.clearRect(0, 0, w, h);
    const xs = lane.latencies.slice(-120);
    if (!xs.length) return;
    const top = Math.max(10, ...xs);
    c.strokeStyle = '#6c8cff';
    c.beginPath();
    xs.forEach((v, i) => {
      const x = (i / Math.max(1, xs.length - 1)) * (w - 4) + 2;
      const y = h - 4 - (v / top) * (h - 12);
      if (i === 0) c.moveTo(x, y); else c.lineTo(x, y);
    });
    c.stroke();
    c.fillStyle = '#8d93b0';
    c.font = '10px sans-serif';
    c.fillText(`latency, max ${top.toFixed(0)} ms`, 4, 11);
  }
  setInterval(render, 500);
  window.pushwireTransports = { lanes, channel, published: () => nextN - 1 };
})();
