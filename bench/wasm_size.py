#!/usr/bin/env python3
"""Where the browser module's bytes are: function bodies and data of a pushwire.wasm built
with --profiling-funcs (its name section names every function), by area of the source,
each area's bytes and its bytes gzipped on their own (gzip -9; the areas gzipped together
come to a few % less, as they share strings). No wabt needed.

  # the release link of build/wasm, once more with names (same code, plus a name section):
  cd build/wasm/client-wasm && eval "$(sed 's| -o pushwire.js| -o /tmp/prof/pushwire.js --profiling-funcs|' \\
      CMakeFiles/pushwire.dir/link.txt)"
  python3 bench/wasm_size.py /tmp/prof/pushwire.wasm [--top 40]
"""
import collections
import gzip
import re
import sys


def leb(b, i):
    result = shift = 0
    while True:
        x = b[i]
        i += 1
        result |= (x & 0x7F) << shift
        shift += 7
        if x < 0x80:
            return result, i


def read_module(data):
    """(imported function count, [function body bytes], {function index: name}, data bytes)"""
    i, imports, bodies, names, datas = 8, 0, [], {}, b''
    while i < len(data):
        section = data[i]
        size, i = leb(data, i + 1)
        end = i + size
        if section == 2:  # imports: functions take the first indices
            n, j = leb(data, i)
            for _ in range(n):
                for _ in range(2):  # module, field
                    length, j = leb(data, j)
                    j += length
                kind = data[j]
                j += 1
                if kind == 0:
                    _, j = leb(data, j)
                    imports += 1
                elif kind in (1, 2):  # table (element type first), memory: limits
                    j += kind == 1
                    flags, j = leb(data, j)
                    _, j = leb(data, j)
                    if flags & 1:
                        _, j = leb(data, j)
                else:  # global
                    j += 2
        elif section == 10:
            n, j = leb(data, i)
            for _ in range(n):
                length, k = leb(data, j)
                bodies.append(data[k:k + length])
                j = k + length
        elif section == 11:
            datas = data[i:end]
        elif section == 0:
            length, j = leb(data, i)
            if data[j:j + length] == b'name':
                j += length
                while j < end:
                    sub = data[j]
                    sub_size, j = leb(data, j + 1)
                    sub_end = j + sub_size
                    if sub == 1:
                        n, j = leb(data, j)
                        for _ in range(n):
                            index, j = leb(data, j)
                            length, j = leb(data, j)
                            names[index] = data[j:j + length].decode('utf-8', 'replace')
                            j += length
                    j = sub_end
        i = end
    return imports, bodies, names, datas


def area(name):
    n = re.sub(r'^byn\$mgfn-shared\$', '', name)
    if n.startswith('pw_') or n.startswith('(anonymous namespace)::'):
        return 'bindings.cpp (pw_* exports with the core code inlined in them, NativeClient)'
    m = re.match(r'pushwire::client::Callback<.*?>::Holder<(.*)', n)
    if m:  # a lambda held by a Callback: the code that made it
        return area(m.group(1))
    if re.match(r'std::__2::__function::', n):
        return 'std::function (clone/destroy code, and the lambdas held)'
    if n.startswith('pushwire::client::ClientCore::'):
        if re.search(r'[Pp]resence|Member|[Ss]napshot', n):
            return 'core: presence'
        if re.search(r'[Pp]ublish|answerOf', n):
            return 'core: publish'
        if re.search(r'transportMessage|transportGap|deliver|Gap|[Cc]ursor|[Pp]osition|resume', n):
            return 'core: delivery, cursors'
        return 'core: connection, fallback, tokens, server API'
    if n.startswith('pushwire::protocol::'):
        return 'protocol/ (cursors, frames, channel names, errors)'
    if n.startswith('pushwire::client::wire::'):
        return 'wire_js.cpp (fields from JSON.parse)'
    if n.startswith('pushwire::client::'):
        return 'transports (polling, WebSocket, SSE) and the browser platform'
    if n.startswith('pushwire::'):
        return 'types.cpp, small helpers'
    if '__tree' in n or n.startswith('std::__2::map<'):
        return 'libc++ map (red-black tree)'
    if re.match(r'std::__2::(__)?basic_string', n):
        return 'libc++ string'
    if n.startswith('std::'):
        return 'libc++ vector, optional, variant, pair'
    if re.match(r'(malloc|free|claim_more|attempt_alloc|emmalloc|sbrk|realloc|memalign|emscripten_builtin|'
                r'validate|compute_free|prepend_to|unlink_from|create_memory|__sbrk)', n):
        return 'emmalloc'
    return 'libc, runtime, other'


def main():
    path = sys.argv[1]
    top = int(sys.argv[sys.argv.index('--top') + 1]) if '--top' in sys.argv else 0
    imports, bodies, names, datas = read_module(open(path, 'rb').read())
    if not names:
        sys.exit(f'{path} has no name section: link it with --profiling-funcs')
    groups = collections.defaultdict(list)
    for k, body in enumerate(bodies):
        groups[area(names.get(k + imports, '?'))].append(body)
    groups['data (strings, tables)'] = [datas]
    rows = []
    for name, parts in groups.items():
        raw = b''.join(parts)
        rows.append((len(gzip.compress(raw, 9)), len(raw), len(parts), name))
    print(f'{"bytes":>7} {"gzipped":>8} {"count":>6}  area')
    for gz, raw, count, name in sorted(rows, reverse=True):
        print(f'{raw:7d} {gz:8d} {count:6d}  {name}')
    print(f'{sum(r[1] for r in rows):7d} {sum(r[0] for r in rows):8d} {len(bodies):6d}  all (areas gzipped apart)')
    if top:
        print()
        for size, k in sorted(((len(b), k) for k, b in enumerate(bodies)), reverse=True)[:top]:
            print(f'{size:7d}  {names.get(k + imports, "?")[:160]}')


if __name__ == '__main__':
    main()
