/** The dashboard's one page: it listens to /api/events and redraws; no build step, no outside files. */
export const dashboardPage = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>meshpool</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  body { font: 14px system-ui, sans-serif; margin: 1.5rem; color: #1d232a; background: #fafbfc; }
  h1 { font-size: 1.3rem; margin: 0 0 .2rem; }
  h2 { font-size: 1rem; margin: 1.4rem 0 .4rem; }
  .muted { color: #68727d; }
  .cards { display: flex; gap: .8rem; flex-wrap: wrap; margin-top: .8rem; }
  .card { background: #fff; border: 1px solid #dde2e7; border-radius: 6px; padding: .5rem .9rem; min-width: 7rem; }
  .card b { display: block; font-size: 1.4rem; }
  table { border-collapse: collapse; background: #fff; width: 100%; }
  th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid #eceff2; vertical-align: top; }
  th { font-weight: 600; color: #47515c; }
  .slot { display: inline-block; padding: 0 .4rem; margin: 0 .2rem .2rem 0; border-radius: 3px; font-size: 12px; }
  .idle { background: #e6f4ea; } .busy { background: #fde9c8; } .loading, .down { background: #e8eaf6; } .broken { background: #fbd5d5; }
  svg { background: #fff; border: 1px solid #dde2e7; border-radius: 6px; }
  .legend span { margin-right: 1rem; }
  code { font-size: 12px; }
</style>
</head>
<body>
<h1>meshpool</h1>
<div class="muted" id="updated">connecting…</div>
<div class="muted" id="heads"></div>
<div class="cards">
  <div class="card">nodes<b id="nodes">–</b></div>
  <div class="card">slots busy<b id="busy">–</b></div>
  <div class="card">queued<b id="queued">–</b></div>
  <div class="card">running<b id="running">–</b></div>
  <div class="card">done<b id="done">–</b></div>
  <div class="card">failed<b id="failed">–</b></div>
  <div class="card">jobs/s<b id="rate">–</b></div>
</div>
<h2>Queue and throughput, last 10 minutes</h2>
<div class="legend muted"><span style="color:#c26d00">■ queued</span><span style="color:#2f6fb3">■ running</span><span style="color:#2e8540">■ finished per second</span></div>
<svg id="chart" width="900" height="180" viewBox="0 0 900 180" preserveAspectRatio="none"></svg>
<h2>Nodes</h2>
<table><thead><tr><th>node</th><th>name</th><th>slots</th><th>done</th><th>failed</th><th>heartbeat</th></tr></thead><tbody id="node-rows"></tbody></table>
<h2>Pools</h2>
<table><thead><tr><th>pool</th><th>update number</th><th>update log</th></tr></thead><tbody id="pool-rows"></tbody></table>
<h2>Recent failures</h2>
<table><thead><tr><th>when</th><th>pool</th><th>job</th><th>error</th></tr></thead><tbody id="failure-rows"></tbody></table>
<script>
const $ = (id) => document.getElementById(id)
const text = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])
const ago = (t, now) => ((now - t) / 1000).toFixed(1) + ' s ago'
function line(points, max, color) {
  if (points.length < 2) return ''
  const w = 900, h = 170
  const xy = points.map((v, i) => (i * w / (points.length - 1)).toFixed(1) + ',' + (h - (v / max) * (h - 10)).toFixed(1))
  return '<polyline fill="none" stroke="' + color + '" stroke-width="2" points="' + xy.join(' ') + '"/>'
}
function headsLine(h) {
  if (!h) return ''
  const who = h.active ? 'this head is active' : 'this head is a standby; active: ' + (h.activePeer || 'none known')
  return who + ' · since ' + new Date(h.since).toLocaleString() + ' · takeovers: ' + h.takeovers
}
function draw(s) {
  $('updated').textContent = 'live · ' + new Date(s.at).toLocaleTimeString()
  $('nodes').textContent = s.nodes.length
  $('heads').textContent = headsLine(s.heads)
  $('busy').textContent = s.slots.busy + ' / ' + Object.values(s.slots).reduce((a, b) => a + b, 0)
  $('queued').textContent = s.counts.queued
  $('running').textContent = s.counts.leased
  $('done').textContent = s.counts.done
  $('failed').textContent = s.counts.failed
  const last = s.history.slice(-5)
  $('rate').textContent = last.length ? (last.reduce((a, p) => a + p.finished, 0) / last.length).toFixed(0) : '0'
  const h = s.history
  const max = Math.max(1, ...h.map((p) => Math.max(p.queued, p.running, p.finished)))
  $('chart').innerHTML = line(h.map((p) => p.queued), max, '#c26d00') + line(h.map((p) => p.running), max, '#2f6fb3') + line(h.map((p) => p.finished), max, '#2e8540')
  $('node-rows').innerHTML = s.nodes.map((n) => '<tr data-node="' + text(n.nodeId) + '"><td><code>' + text(n.nodeId) + '</code></td><td>' + text(n.name) + '</td><td>' +
    n.slots.map((sl) => '<span class="slot ' + sl.state + '">' + sl.state + (sl.gpu ? ' · GPU ' + sl.gpu.index + ' ' + text(sl.gpu.name) : '') + '</span>').join('') +
    '</td><td class="done">' + n.done + '</td><td>' + n.failed + '</td><td>' + ago(n.lastHeartbeat, s.at) + '</td></tr>').join('')
  $('pool-rows').innerHTML = s.pools.map((p) => '<tr><td>' + p.poolId + '</td><td class="seq">' + p.updateSeq + '</td><td>' + p.updateLogBytes + ' bytes</td></tr>').join('')
  $('failure-rows').innerHTML = s.failures.map((f) => '<tr><td>' + ago(f.t, s.at) + '</td><td>' + f.pool + '</td><td>' + f.id + '</td><td>' + text(f.error) + '</td></tr>').join('')
}
const events = new EventSource('/api/events' + location.search) // the page's ?token=, if the head has one
events.onmessage = (e) => draw(JSON.parse(e.data))
events.onerror = () => { $('updated').textContent = 'reconnecting…' }
</script>
</body>
</html>
`
