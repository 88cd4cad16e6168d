// flip-sync dashboard: table filters, the offline map, live case events (SSE). No dependencies.
"use strict";

function filterTables() {
  document.querySelectorAll("input[data-filter]").forEach(function (input) {
    var table = document.getElementById(input.dataset.filter);
    if (!table) return;
    input.addEventListener("input", function () {
      var q = input.value.toLowerCase();
      table.querySelectorAll("tbody tr").forEach(function (tr) {
        tr.hidden = q !== "" && tr.textContent.toLowerCase().indexOf(q) < 0;
      });
    });
  });
}

// The map fits the fleet: the box around every track (with a margin, never less than 6°
// across), drawn equirectangular with the longitude squeezed by cos(latitude) so shapes keep
// their proportions; vessels whose last fixes fall within LABEL_PX of each other share one
// marker and one label ("MV A +2"), so labels never pile up on one spot.
var LABEL_PX = 26;

function fitBox(tracks) {
  var lons = [], lats = [];
  tracks.forEach(function (t) { t.points.forEach(function (p) { lons.push(p[0]); lats.push(p[1]); }); });
  if (!lons.length) return {w: -180, e: 180, s: -70, n: 80};
  var w = Math.min.apply(null, lons), e = Math.max.apply(null, lons);
  var s = Math.min.apply(null, lats), n = Math.max.apply(null, lats);
  var span = Math.max(e - w, n - s, 6) * 1.25, cx = (w + e) / 2, cy = (s + n) / 2;
  return {w: cx - span / 2, e: cx + span / 2, s: Math.max(-85, cy - span / 2), n: Math.min(85, cy + span / 2)};
}

function clusters(markers) {
  var groups = [];
  markers.forEach(function (m) {
    var g = groups.find(function (c) { return Math.hypot(c.x - m.x, c.y - m.y) < LABEL_PX; });
    if (g) { g.names.push(m.name); } else { groups.push({x: m.x, y: m.y, names: [m.name], colour: m.colour}); }
  });
  return groups;
}

// Each cluster's label goes right, left, above or below its marker, wherever it overlaps no
// label placed before; when none fits, the cluster joins the one it collides with.
function placeLabels(groups, ctx, W, H) {
  function text(g) { return g.names.length > 1 ? g.names[0] + " +" + (g.names.length - 1) : g.names[0]; }
  function hits(a, b) { return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h; }
  var placed = [];
  groups.forEach(function (g) {
    if (g.placed || !g.names.length) return;
    for (;;) {
      var label = text(g), w = ctx.measureText(label).width + 6, h = 20;
      var spots = [[g.x + 10, g.y - 10], [g.x - 10 - w, g.y - 10], [g.x - w / 2, g.y - 32], [g.x - w / 2, g.y + 12]];
      var box = null, clash = null;
      for (var i = 0; i < spots.length && !box; i++) {
        var b = {x: Math.max(0, Math.min(W - w, spots[i][0])), y: Math.max(0, Math.min(H - h, spots[i][1])), w: w, h: h};
        var other = placed.find(function (p) { return hits(b, p.box); }) ||
          groups.find(function (p) { return p !== g && p.names.length && hits(b, {x: p.x - 7, y: p.y - 7, w: 14, h: 14}); });
        if (other) { clash = clash || other; } else { box = b; }
      }
      if (box) { g.label = label; g.box = box; g.placed = true; placed.push(g); return; }
      // No room: fold this cluster into the one in the way, and place that one again.
      if (placed.indexOf(clash) >= 0) placed.splice(placed.indexOf(clash), 1);
      clash.placed = false;
      clash.names = clash.names.concat(g.names);
      g.names = [];
      g = clash;
    }
  });
  return placed;
}

function drawMap(canvas) {
  var ctx = canvas.getContext("2d");
  var W = canvas.width, H = canvas.height;
  ctx.fillStyle = "#dbe9f4"; ctx.fillRect(0, 0, W, H);
  Promise.all([
    fetch("/static/coastline.json").then(function (r) { return r.json(); }),
    fetch("/dashboard/tracks.json", {credentials: "same-origin"}).then(function (r) { return r.json(); })
  ]).then(function (res) {
    var box = fitBox(res[1]);
    var k = Math.cos((box.s + box.n) / 2 * Math.PI / 180);
    var sx = W / ((box.e - box.w) * k), sy = H / (box.n - box.s), scale = Math.min(sx, sy);
    var ox = (W - (box.e - box.w) * k * scale) / 2, oy = (H - (box.n - box.s) * scale) / 2;
    function xy(lon, lat) { return [ox + (lon - box.w) * k * scale, oy + (box.n - lat) * scale]; }
    function poly(points, close) {
      ctx.beginPath();
      points.forEach(function (p, i) {
        var q = xy(p[0], p[1]);
        if (i === 0) ctx.moveTo(q[0], q[1]); else ctx.lineTo(q[0], q[1]);
      });
      if (close) ctx.closePath();
    }
    ctx.fillStyle = "#f3f1ea"; ctx.strokeStyle = "#8a8a80"; ctx.lineWidth = 0.7;
    res[0].rings.forEach(function (ring) { poly(ring, true); ctx.fill(); ctx.stroke(); });
    var colours = ["#c0392b", "#1f618d", "#117a65", "#7d3c98", "#b9770e", "#2e4053"];
    var markers = [];
    res[1].forEach(function (t, i) {
      var colour = colours[i % colours.length];
      ctx.strokeStyle = colour; ctx.lineWidth = 2;
      poly(t.points, false); ctx.stroke();
      var p = t.points[t.points.length - 1], q = xy(p[0], p[1]);
      markers.push({x: q[0], y: q[1], name: t.vessel, colour: colour});
    });
    ctx.font = "bold 15px system-ui, sans-serif"; ctx.textBaseline = "middle";
    var groups = placeLabels(clusters(markers), ctx, W, H);
    groups.forEach(function (g) {
      ctx.fillStyle = g.names.length > 1 ? "#0b2e4f" : g.colour;
      ctx.beginPath(); ctx.arc(g.x, g.y, g.names.length > 1 ? 7 : 5, 0, 2 * Math.PI); ctx.fill();
      ctx.fillStyle = "rgba(255,255,255,.85)"; ctx.fillRect(g.box.x, g.box.y, g.box.w, g.box.h);
      ctx.fillStyle = "#111"; ctx.fillText(g.label, g.box.x + 3, g.box.y + g.box.h / 2);
    });
    canvas.title = groups.map(function (g) { return g.names.join(", "); }).join(" · ");
    canvas.dataset.clusters = String(groups.length);
    canvas.dataset.box = [box.w, box.s, box.e, box.n].map(function (v) { return v.toFixed(1); }).join(",");
    canvas.dataset.tracks = String(res[1].length);
  }).catch(function () { canvas.dataset.error = "1"; });
}

// Clocks tick: every 30 s the page's deadlines are written again by the server (/clocks, the
// same formatter as the page) — no reload, so a page showing crew words is not viewed again.
function tickClocks() {
  var nodes = Array.prototype.slice.call(document.querySelectorAll(".clock[data-due]"));
  if (!nodes.length) return;
  var lang = document.documentElement.lang || "en";
  var query = nodes.map(function (n) { return "due=" + encodeURIComponent(n.dataset.due); }).join("&");
  setInterval(function () {
    if (document.hidden) return;
    fetch("/clocks?lang=" + encodeURIComponent(lang) + "&" + query, {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (clocks) {
        if (!clocks) return;
        nodes.forEach(function (n, i) {
          if (!clocks[i]) return;
          n.textContent = clocks[i].text;
          n.classList.toggle("bad", clocks[i].overdue);
        });
        document.body.dataset.ticked = String(Date.now());
      }).catch(function () {});
  }, Number(document.body.dataset.tickMs || 30000));
}

function live(url) {
  if (!window.EventSource) return;
  var box = document.getElementById("live");
  var source = new EventSource(url);
  source.addEventListener("case", function (e) {
    var ev = JSON.parse(e.data);
    box.hidden = false;
    var line = document.createElement("div");
    line.className = ev.urgent ? "bad" : "";
    line.textContent = new Date(ev.time).toLocaleTimeString() + " " + ev.case + " (" + ev.vessel + "): " +
      ev.action + " → " + ev.status.replace(/_/g, " ");
    var link = document.createElement("a");
    link.href = "/cases/" + encodeURIComponent(ev.case); link.textContent = " open";
    line.appendChild(link);
    box.prepend(line);
    while (box.childNodes.length > 5) box.removeChild(box.lastChild);
  });
}

document.addEventListener("DOMContentLoaded", function () {
  filterTables();
  var map = document.getElementById("map");
  if (map) drawMap(map);
  var url = document.body.dataset.live;
  if (url) live(url);
  tickClocks();
  document.querySelectorAll("a[data-back]").forEach(function (a) {
    if (window.history.length < 2) { a.hidden = true; return; }
    a.addEventListener("click", function (e) { e.preventDefault(); window.history.back(); });
  });
});
