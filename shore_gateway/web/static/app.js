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

function drawMap(canvas) {
  var ctx = canvas.getContext("2d");
  var W = canvas.width, H = canvas.height;
  function xy(lon, lat) { return [(lon + 180) / 360 * W, (90 - lat) / 180 * H]; }
  function poly(points, close) {
    ctx.beginPath();
    points.forEach(function (p, i) {
      var q = xy(p[0], p[1]);
      if (i === 0) ctx.moveTo(q[0], q[1]); else ctx.lineTo(q[0], q[1]);
    });
    if (close) ctx.closePath();
  }
  ctx.fillStyle = "#dbe9f4"; ctx.fillRect(0, 0, W, H);
  Promise.all([
    fetch("/static/coastline.json").then(function (r) { return r.json(); }),
    fetch("/dashboard/tracks.json", {credentials: "same-origin"}).then(function (r) { return r.json(); })
  ]).then(function (res) {
    ctx.fillStyle = "#f3f1ea"; ctx.strokeStyle = "#8a8a80"; ctx.lineWidth = 0.5;
    res[0].rings.forEach(function (ring) { poly(ring, true); ctx.fill(); ctx.stroke(); });
    var colours = ["#c0392b", "#1f618d", "#117a65", "#7d3c98", "#b9770e", "#2e4053"];
    res[1].forEach(function (t, i) {
      ctx.strokeStyle = colours[i % colours.length]; ctx.lineWidth = 1.5;
      poly(t.points, false); ctx.stroke();
      var last = xy(t.points[t.points.length - 1][0], t.points[t.points.length - 1][1]);
      ctx.fillStyle = ctx.strokeStyle;
      ctx.beginPath(); ctx.arc(last[0], last[1], 3, 0, 2 * Math.PI); ctx.fill();
      ctx.font = "11px sans-serif"; ctx.fillText(t.vessel, last[0] + 5, last[1] - 4);
    });
    canvas.dataset.tracks = String(res[1].length);
  }).catch(function () { canvas.dataset.error = "1"; });
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
    line.textContent = ev.time.slice(11, 19) + " " + ev.case + " (" + ev.vessel + "): " +
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
});
