// The crew app (docs/crew-app.md). One page, no framework, no external request: every string
// comes from the agent's crew catalogs (/i18n/<lang>.json), every crew action goes to the agent
// sealed to its intake key (./hpke.js), and nothing typed is kept once the screen is left.
import { concat, newKeyPair, open, seal } from "./hpke.js";
import { derivedKeyPair } from "./replykey.js";

const boot = JSON.parse(document.getElementById("boot").textContent);
const te = new TextEncoder();
const td = new TextDecoder();
const INFO_REQUEST = te.encode("flip-sync/1 crew-app request");
const INFO_REPLY = te.encode("flip-sync/1 crew-app reply");
const PAD_TO = 1024;
const MAX_TEXT = 2000;
const intakePub = fromHex(boot.intake_pub);
const onBox = ["127.0.0.1", "localhost", "[::1]"].includes(location.hostname);
const STORE = "flip-crew-receipts";

// One picture per category (FIELD-FACTS §8), beside its words: crew who read little find it.
const ICONS = {
  "00": "💬", "10": "🪝", "11": "🤥", "12": "⛓️", "13": "🚷", "14": "👊", "15": "😨",
  "16": "🛂", "17": "💸", "18": "📉", "19": "🏚️", "1A": "⏰", "20": "😴", "21": "📄",
  "22": "🏠", "23": "🧾", "24": "📅", "25": "🍚", "26": "🛏️", "27": "🩺", "28": "⚠️",
  "29": "🤕", "2A": "🧒", "30": "🌊", "31": "🚢", "32": "📵", "33": "🕯️", "34": "✍️",
  "35": "😠", "36": "🤐", "37": "➖", "38": "🎣", F0: "🆘", F1: "🚑", F2: "🛟", F3: "🔒",
};

const catalogs = {};
let t = {};
let lang = boot.default;
let state = freshState();
let lastActivity = Date.now();

function freshState() {
  return { cat: null, draft: "", meter: null, found: null, receipt: null, reply: null };
}

// --- helpers ------------------------------------------------------------------------------

function fromHex(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function tr(key, fmt) {
  let text = t[key] ?? key;
  if (fmt) for (const [k, v] of Object.entries(fmt)) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k === "class") node.className = v;
    else if (v !== false && v != null) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null) node.append(c);
  return node;
}

function button(label, onClick, cls = "", attrs = {}) {
  return el("button", { type: "button", class: `btn ${cls}`, on: { click: onClick }, ...attrs }, label);
}

function catKey(code) {
  return code.toString(16).toUpperCase().padStart(2, "0");
}

function tile(code, onClick, cls = "") {
  const key = catKey(code);
  return el(
    "button",
    { type: "button", class: `tile ${cls}`, "data-cat": key, on: { click: onClick } },
    el("span", { class: "icon", "aria-hidden": "true" }, ICONS[key] ?? "•"),
    el("span", { class: "word" }, tr(`cat.${key}`)),
  );
}

// Spoken instructions (scripts/build_prompts.py): a speaker button on each screen that has a
// clip in the chosen language; nothing plays unless pressed.
let speaking = null;

function say(name) {
  speaking?.pause();
  speaking = new Audio(`/prompts/${lang}-${name}.mp3`);
  speaking.play().catch(() => {});
}

function sayButton(id) {
  const name = id.slice(2);
  if (!boot.prompts?.[lang]?.includes(name)) return null;
  return button("🔊", () => say(name), "plain say", { id: "say", "aria-label": tr("app.listen_instructions"), title: tr("app.listen_instructions") });
}

function show(id, ...children) {
  const main = document.getElementById("app");
  speaking?.pause();
  main.replaceChildren(el("section", { id, class: "screen" }, sayButton(id), ...children));
  document.documentElement.lang = lang;
  window.scrollTo(0, 0);
  const heading = main.querySelector("h1");
  if (heading) heading.setAttribute("tabindex", "-1");
  return main.firstChild;
}

function header(title, cls = "") {
  return el("h1", { class: cls }, title);
}

async function getJSON(url) {
  const r = await fetch(url, { cache: "no-store", credentials: "omit" });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return r.json();
}

async function loadLang(code) {
  if (!catalogs[code]) catalogs[code] = await getJSON(`/i18n/${code}.json`);
  lang = code;
  t = catalogs[code];
}

// One sealed request: fetch a single-use token, seal {op, token, resp_pub, …fields} padded to a
// 1 kB bucket to the intake key, post it, open the answer with this request's own key.
async function call(op, fields) {
  const hello = await getJSON("/api/v1/hello");
  const resp = newKeyPair();
  const json = JSON.stringify({ op, token: hello.token, resp_pub: toHex(resp.publicKey), ...fields });
  const raw = te.encode(json);
  const padded = new Uint8Array(Math.ceil(raw.length / PAD_TO) * PAD_TO).fill(0x20);
  padded.set(raw);
  const r = await fetch("/api/v1/crew", {
    method: "POST",
    headers: { "Content-Type": "application/octet-stream", "X-Flip-Crew": "1" },
    body: seal(intakePub, INFO_REQUEST, padded),
    cache: "no-store",
    credentials: "omit",
  });
  if (r.status === 429) return { ok: false, error: ["submit", "reserve"].includes(op) ? "app.too_many" : "ui.locked" };
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  const answer = new Uint8Array(await r.arrayBuffer());
  return JSON.parse(td.decode(open(resp.secretKey, INFO_REPLY, answer)));
}

// --- idle: back to the start, nothing of the last person left --------------------------------

function touch() {
  lastActivity = Date.now();
}

function reset() {
  state = freshState();
  lang = boot.default;
  t = catalogs[lang] ?? {};
  startScreen();
}

for (const ev of ["pointerdown", "keydown", "input", "touchstart"]) {
  document.addEventListener(ev, touch, { capture: true, passive: true });
}
function idleCheck() {
  if (Date.now() - lastActivity >= boot.idle_s * 1000 && document.querySelector("#s-lang") == null) {
    reset();
  }
}
setInterval(idleCheck, 1000);
// A phone locked or a tab switched away: on return, clear at once (timers may have been paused).
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") idleCheck();
});
window.addEventListener("pageshow", idleCheck);

// --- screens ------------------------------------------------------------------------------

function startScreen() {
  show(
    "s-lang",
    el("div", { class: "globe", "aria-hidden": "true" }, "🌐"),
    el(
      "div",
      { class: "langs" },
      boot.langs.map(([code, name]) =>
        el(
          "button",
          {
            type: "button",
            class: "tile lang",
            lang: code,
            "data-lang": code,
            on: { click: async () => { await loadLang(code); homeScreen(); } },
          },
          name,
        ),
      ),
    ),
  );
}

function homeScreen() {
  state = freshState();
  show(
    "s-home",
    header(tr("ui.title")),
    el("p", { class: "lead" }, tr("ui.welcome")),
    el(
      "div",
      { class: "grid two" },
      el("button", { type: "button", class: "tile big", id: "go-report", on: { click: categoryScreen } },
        el("span", { class: "icon", "aria-hidden": "true" }, "✏️"), el("span", { class: "word" }, tr("ui.report"))),
      el("button", { type: "button", class: "tile big", id: "go-check", on: { click: checkScreen } },
        el("span", { class: "icon", "aria-hidden": "true" }, "🔎"), el("span", { class: "word" }, tr("ui.check"))),
    ),
    el(
      "div",
      { class: "urgent-box" },
      el("h2", {}, tr("app.urgent_title")),
      el("div", { class: "grid two" }, boot.urgent.map((c) => tile(c, () => writeScreen(c), "urgent"))),
    ),
    el("p", { class: "small" }, tr("ui.idle_note")),
    button(`🌐 ${tr("app.change_language")}`, startScreen, "plain", { id: "go-lang" }),
  );
}

function categoryScreen() {
  show(
    "s-cats",
    header(tr("ui.choose_category")),
    boot.groups.map(([group, codes]) =>
      el(
        "div",
        { class: "group" },
        group === "0" ? null : el("h2", {}, tr(`group.${group}`)),
        el("div", { class: "grid" }, codes.map((c) => tile(c, () => writeScreen(c)))),
      ),
    ),
    button(tr("ui.back"), homeScreen, "plain", { id: "back" }),
  );
}

function isUrgent(code) {
  return boot.urgent.includes(code);
}

function writeScreen(code) {
  if (state.cat !== code) state.draft = "";
  state.cat = code;
  const urgent = isUrgent(code);
  const area = el("textarea", {
    id: "text",
    rows: "6",
    maxlength: String(MAX_TEXT),
    autocomplete: "off",
    autocapitalize: "off",
    spellcheck: "false",
    "aria-label": tr("ui.details"),
  });
  area.value = state.draft;
  const meter = el("p", { class: "meter", id: "meter" });
  area.addEventListener("input", () => {
    state.draft = area.value;
    updateMeter(meter);
  });
  show(
    "s-write",
    header(`${ICONS[catKey(code)] ?? ""} ${tr(`cat.${catKey(code)}`)}`, urgent ? "urgent" : ""),
    urgent ? el("p", { class: "warn" }, tr("ui.sending_urgent")) : null,
    el("label", { for: "text" }, tr("ui.details")),
    area,
    meter,
    el(
      "div",
      { class: "row" },
      button(tr("ui.back"), () => (urgent ? homeScreen() : categoryScreen()), "plain", { id: "back" }),
      button(tr("app.next"), reviewScreen, urgent ? "danger" : "primary", { id: "next" }),
    ),
    // Always offered: in the page where the browser gives a microphone (the box's screen), else
    // through the phone's own recorder (voiceScreen).
    button(`🎤 ${tr("app.speak_instead")}`, () => voiceScreen(code), "plain big", { id: "go-voice" }),
  );
  area.focus();
  updateMeter(meter);
  loadSizes(() => updateMeter(meter));
  getJSON("/api/v1/hello")
    .then((h) => { state.meter = h; updateMeter(meter); })
    .catch(() => {});
}

let sizes = null;
// The agent makes the meter's table when first asked (503 meanwhile): ask again a few times.
function loadSizes(then, tries = 10) {
  if (sizes) return;
  getJSON("/sizes.json")
    .then((s) => { sizes = s; then?.(); })
    .catch(() => { if (tries > 1) setTimeout(() => loadSizes(then, tries - 1), 1500); });
}
loadSizes();

function estimate(text) {
  if (!sizes) return null;
  const row = sizes.frames[lang] ?? sizes.frames.en;
  const n = Array.from(text.trim()).length;
  return row[Math.min(row.length - 1, Math.ceil(n / sizes.step))];
}

function waitText(frames) {
  if (isUrgent(state.cat)) return tr("app.wait_urgent");
  const m = state.meter;
  if (!m || !sizes || !(m.budget_per_day > 0)) return "";
  const days = (m.pending_bytes + frames * sizes.frame_bytes) / m.budget_per_day;
  const hours = Math.ceil(days * 24);
  if (hours <= 6) return tr("app.wait_soon");
  if (hours < 48) return tr("app.wait_hours", { h: hours });
  return tr("app.wait_days", { d: Math.ceil(days) });
}

function updateMeter(node) {
  const frames = estimate(state.draft);
  if (frames == null) return;
  node.replaceChildren(
    el("span", { class: "count", id: "meter-count" }, tr("app.meter", { n: frames })),
    " ",
    el("span", { class: "wait" }, waitText(frames)),
  );
}

// --- voice notes: recorded here, sealed to the agent, encoded (Codec2) and sealed there ----------

const VOICE_RATE = 16000; // what the page sends; the agent resamples to 8 kHz (soxr)
const VOICE_MAX_S = 60;
const VOICE_MIN_S = 1;
// A chosen file larger than this is not decoded (a minute of 48 kHz stereo WAV is 11.5 MB).
const VOICE_MAX_FILE = 32 * 1024 * 1024;

// getUserMedia exists only in secure contexts (https, localhost): not on http://<LAN address>,
// where phones record with their own recorder app instead (the file input below).
function micInPage() {
  return Boolean(navigator.mediaDevices?.getUserMedia);
}

// A recording made by the phone's own recorder app (any format the browser decodes: WAV, OGG,
// AAC/M4A, AMR where supported), decoded here with Web Audio — no secure context needed — mixed
// to mono and resampled to the PCM the in-page recording sends. The file never leaves the phone:
// only the sealed PCM does. Typed failures: "app.voice_bad" (not audio the browser can decode),
// "app.voice_long" (over the cap, or a file too big to be a minute of audio).
async function decodeFile(file) {
  if (file.size > VOICE_MAX_FILE) throw new Error("app.voice_long");
  const bytes = await file.arrayBuffer();
  let audio;
  try {
    // decodeAudioData resamples to its context's rate: the browser's own resampler, to 16 kHz.
    audio = await new OfflineAudioContext(1, 1, VOICE_RATE).decodeAudioData(bytes);
  } catch {
    throw new Error("app.voice_bad");
  }
  if (!(audio.length > 0)) throw new Error("app.voice_bad");
  if (audio.duration > VOICE_MAX_S + 0.5) throw new Error("app.voice_long");
  const mono = new Float32Array(audio.length);
  for (let c = 0; c < audio.numberOfChannels; c++) {
    const data = audio.getChannelData(c);
    for (let k = 0; k < mono.length; k++) mono[k] += data[k] / audio.numberOfChannels;
  }
  return to16k(mono, audio.sampleRate);
}

async function startRecording() {
  const stream = await navigator.mediaDevices.getUserMedia({
    // The voice as it was said: no browser processing between the microphone and the codec.
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const ctx = new AudioContext();
  const source = ctx.createMediaStreamSource(stream);
  // ScriptProcessor: everywhere, no extra module to serve; its output stays silent.
  const tap = ctx.createScriptProcessor(4096, 1, 1);
  const chunks = [];
  tap.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
  source.connect(tap);
  tap.connect(ctx.destination);
  return {
    seconds: () => chunks.reduce((n, c) => n + c.length, 0) / ctx.sampleRate,
    async stop() {
      tap.disconnect();
      source.disconnect();
      for (const track of stream.getTracks()) track.stop();
      const rate = ctx.sampleRate;
      await ctx.close();
      const all = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
      let i = 0;
      for (const c of chunks) { all.set(c, i); i += c.length; }
      chunks.length = 0;
      return to16k(all, rate);
    },
  };
}

// The browser's own resampler (OfflineAudioContext) to 16 kHz, then 16-bit PCM.
async function to16k(samples, rate) {
  const n = Math.max(1, Math.round((samples.length * VOICE_RATE) / rate));
  const off = new OfflineAudioContext(1, n, VOICE_RATE);
  const buf = off.createBuffer(1, samples.length, rate);
  buf.copyToChannel(samples, 0);
  const src = off.createBufferSource();
  src.buffer = buf;
  src.connect(off.destination);
  src.start();
  const out = (await off.startRendering()).getChannelData(0);
  const pcm = new Int16Array(out.length);
  for (let k = 0; k < out.length; k++) pcm[k] = Math.max(-32768, Math.min(32767, Math.round(out[k] * 32767)));
  return pcm;
}

function wavBlob(pcm) {
  const head = new DataView(new ArrayBuffer(44));
  const str = (o, s) => { for (let k = 0; k < s.length; k++) head.setUint8(o + k, s.charCodeAt(k)); };
  str(0, "RIFF"); head.setUint32(4, 36 + pcm.byteLength, true); str(8, "WAVEfmt ");
  head.setUint32(16, 16, true); head.setUint16(20, 1, true); head.setUint16(22, 1, true);
  head.setUint32(24, VOICE_RATE, true); head.setUint32(28, VOICE_RATE * 2, true);
  head.setUint16(32, 2, true); head.setUint16(34, 16, true); str(36, "data");
  head.setUint32(40, pcm.byteLength, true);
  return new Blob([head.buffer, pcm.buffer], { type: "audio/wav" });
}

function voiceFrames(seconds) {
  const row = sizes?.voice;
  if (!row) return null;
  return row[Math.min(row.length - 1, Math.max(1, Math.ceil(seconds)))];
}

// One sealed voice note: u32 length ‖ the request JSON (padded to 1 kB) ‖ the PCM, padded with
// silence to whole seconds, all sealed to the intake key like every other request.
async function callVoice(fields, pcm) {
  const hello = await getJSON("/api/v1/hello");
  const resp = newKeyPair();
  const raw = te.encode(JSON.stringify({ op: "voice", token: hello.token, resp_pub: toHex(resp.publicKey), ...fields }));
  const head = new Uint8Array(Math.ceil(raw.length / PAD_TO) * PAD_TO).fill(0x20);
  head.set(raw);
  const len = new Uint8Array(4);
  new DataView(len.buffer).setUint32(0, head.length);
  const bytes = new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  const audio = new Uint8Array(Math.ceil(bytes.length / (VOICE_RATE * 2)) * VOICE_RATE * 2);
  audio.set(bytes);
  const r = await fetch("/api/v1/crew/voice", {
    method: "POST",
    headers: { "Content-Type": "application/octet-stream", "X-Flip-Crew": "1" },
    body: seal(intakePub, INFO_REQUEST, concat(len, head, audio)),
    cache: "no-store",
    credentials: "omit",
  });
  if (r.status === 429) return { ok: false, error: "app.too_many" };
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  const answer = new Uint8Array(await r.arrayBuffer());
  return JSON.parse(td.decode(open(resp.secretKey, INFO_REPLY, answer)));
}

function voiceScreen(code) {
  state.cat = code;
  const urgent = isUrgent(code);
  let rec = null;
  let pcm = null;
  let url = null;
  let timer = null;
  // false: the phone's own recorder, through the file input. Never on the box's screen: a file
  // chooser there would open the box's own disk to whoever stands at it.
  let inPage = onBox || micInPage();
  const clock = el("p", { class: "clock", id: "clock", role: "timer" }, "0 s");
  const meter = el("p", { class: "meter", id: "meter" });
  const error = el("p", { class: "error", id: "error", role: "alert" });
  const player = el("audio", { id: "playback", controls: true, hidden: true });
  const controls = el("div", { class: "row" });
  const help = el("p", { class: "lead", id: "voice-help" }, tr(inPage ? "app.voice_help" : "app.voice_help_phone"));
  // The recorder app may keep its own copy on the phone: say so (crew may share a phone).
  const phoneCopy = el("p", { class: "small", id: "phone-copy", hidden: inPage }, tr("app.phone_copy"));
  // The spoken instruction of the phone's-recorder path (its own clip, "voice-phone").
  const phoneSay = () => {
    document.getElementById("say")?.remove();
    const b = sayButton("s-voice-phone");
    if (b) document.getElementById("s-voice").prepend(b);
  };
  const drop = () => {
    if (url) URL.revokeObjectURL(url);
    url = null;
    pcm = null;
  };
  const leave = (next) => async () => {
    clearInterval(timer);
    if (rec) await rec.stop().catch(() => {});
    rec = null;
    drop();
    next();
  };
  let current = 0; // seconds recorded so far (the meter's input, also when sizes arrive late)
  const meterFor = (seconds) => {
    current = seconds;
    const n = voiceFrames(seconds);
    if (n != null) meter.replaceChildren(el("span", { class: "count", id: "meter-count" }, tr("app.meter", { n })), " ", el("span", { class: "wait" }, waitText(n)));
  };
  // `capture`: Android opens its recorder app at once; elsewhere the phone offers to record or
  // to pick a recording. The value is read once and the input emptied, so nothing stays here.
  const picker = el("input", { type: "file", id: "voice-file", accept: "audio/*", capture: true, hidden: true });
  picker.addEventListener("change", () => {
    const file = picker.files?.[0];
    picker.value = "";
    if (file) chosen(file);
  });
  const startButton = () =>
    inPage
      ? button(`⏺ ${tr("app.record")}`, record, urgent ? "danger big" : "primary big", { id: "record" })
      : button(`⏺ ${tr("app.record_phone")}`, () => picker.click(), urgent ? "danger big" : "primary big", { id: "record-phone" });
  const idle = () => {
    controls.replaceChildren(
      button(tr("ui.back"), leave(() => writeScreen(code)), "plain", { id: "back" }),
      startButton(),
    );
  };
  const record = async () => {
    error.textContent = "";
    drop();
    player.hidden = true;
    try {
      rec = await startRecording();
    } catch {
      error.textContent = tr("app.mic_denied");
      if (onBox) return; // the headset: ask for it (the message says so)
      // A phone whose browser refused the page its microphone: its own recorder still works.
      inPage = false;
      help.textContent = tr("app.voice_help_phone");
      phoneCopy.hidden = false;
      phoneSay();
      idle();
      return;
    }
    controls.replaceChildren(button(`⏹ ${tr("app.stop")}`, stop, "danger big", { id: "stop" }));
    timer = setInterval(() => {
      const s = rec ? rec.seconds() : 0;
      clock.textContent = `${Math.floor(s)} s / ${VOICE_MAX_S} s`;
      meterFor(s);
      if (s >= VOICE_MAX_S) stop();
    }, 250);
  };
  const stop = async () => {
    clearInterval(timer);
    if (!rec) return;
    const r = rec;
    rec = null;
    review(await r.stop());
  };
  // A recording to listen to before sending (made in the page or by the phone's recorder).
  const review = (made) => {
    pcm = made;
    const seconds = pcm.length / VOICE_RATE;
    clock.textContent = `${seconds.toFixed(1)} s`;
    meterFor(seconds);
    if (seconds < VOICE_MIN_S) {
      error.textContent = tr("app.voice_short");
      drop();
      idle();
      return;
    }
    url = URL.createObjectURL(wavBlob(pcm));
    player.src = url;
    player.hidden = false;
    controls.replaceChildren(
      button(`↺ ${tr("app.record_again")}`, inPage ? record : () => picker.click(), "plain", { id: "record-again" }),
      button(urgent ? tr("app.send_urgent") : tr("ui.send"), send, urgent ? "danger big" : "primary big", { id: "send-voice" }),
    );
  };
  const chosen = async (file) => {
    error.textContent = "";
    drop();
    player.hidden = true;
    controls.replaceChildren();
    clock.textContent = "…";
    try {
      review(await decodeFile(file));
    } catch (e) {
      const key = String(e.message);
      error.textContent = tr(key.startsWith("app.") ? key : "app.voice_bad");
      clock.textContent = "0 s";
      idle();
    }
  };
  const send = async () => {
    const sendBtn = document.getElementById("send-voice");
    sendBtn.disabled = true;
    error.textContent = tr("app.sending");
    try {
      const reply = await replyFields();
      const answer = await callVoice({ category: code, lang, rate: VOICE_RATE, samples: pcm.length, ...reply }, pcm);
      if (!answer.ok) throw new Error(answer.error);
      drop();
      receiptScreen(answer);
    } catch (e) {
      error.textContent = tr(String(e.message).startsWith("ui.") || String(e.message).startsWith("app.") ? e.message : "app.offline");
      sendBtn.disabled = false;
    }
  };
  show(
    "s-voice",
    header(`🎤 ${ICONS[catKey(code)] ?? ""} ${tr(`cat.${catKey(code)}`)}`, urgent ? "urgent" : ""),
    help,
    el("p", { class: "private" }, "🔒 ", tr("app.review_private")),
    clock,
    meter,
    player,
    error,
    controls,
    picker,
    phoneCopy,
  );
  if (!inPage) phoneSay();
  idle();
  loadSizes(() => meterFor(current));
  getJSON("/api/v1/hello").then((h) => { state.meter = h; }).catch(() => {});
  document.querySelector("h1").focus();
}

function reviewScreen() {
  const code = state.cat;
  const urgent = isUrgent(code);
  const words = state.draft.trim();
  const error = el("p", { class: "error", id: "error", role: "alert" });
  const send = async () => {
    sendBtn.disabled = true;
    error.textContent = tr("app.sending");
    try {
      const reply = await replyFields();
      const answer = await call("submit", { category: code, lang, text: state.draft, ...reply });
      if (!answer.ok) throw new Error(answer.error);
      state.draft = "";
      receiptScreen(answer);
    } catch (e) {
      // "app.too_many" too: a crew member told "no connection" would just press Send again.
      const key = String(e.message);
      error.textContent = tr(key.startsWith("ui.") || key.startsWith("app.") ? key : "app.offline");
      sendBtn.disabled = false;
    }
  };
  const sendBtn = button(
    urgent ? tr("app.send_urgent") : tr("ui.send"),
    send,
    urgent ? "danger big" : "primary big",
    { id: "send" },
  );
  show(
    "s-review",
    header(tr("app.review_title"), urgent ? "urgent" : ""),
    el("p", { class: "private" }, "🔒 ", tr("app.review_private")),
    el("p", { class: "cat" }, `${ICONS[catKey(code)] ?? ""} ${tr(`cat.${catKey(code)}`)}`),
    el("p", { class: "label" }, tr("app.your_words")),
    el("div", { class: "words", id: "words" }, words || tr("app.no_words")),
    urgent ? el("p", { class: "warn" }, tr("app.urgent_confirm")) : null,
    error,
    el("div", { class: "row" }, button(tr("app.change"), () => writeScreen(code), "plain", { id: "change" }), sendBtn),
  );
  // Focus the heading, not Send: a stray Enter here does nothing.
  document.querySelector("h1").focus();
}

// The reply key of a grievance (issue "two-way"). On the crew member's own phone the page first
// asks the agent for the receipt code and derives the key from it here, as the agent would
// (./replykey.js): the phone opens the shore's answers itself when the code is kept on it, and
// the code alone still opens them on the box's screen, or here after the phone forgot it. On
// the box's shared screen nothing is made here: the agent derives the key from the code.
async function replyFields() {
  state.reply = null;
  if (onBox) return {};
  const r = await call("reserve", {});
  if (!r.ok) throw new Error(r.error);
  const salt = crypto.getRandomValues(new Uint8Array(16));
  state.reply = await derivedKeyPair(r.receipt, fromHex(r.salt), r.n, r.r, salt);
  return { receipt: r.receipt, reply_salt: toHex(salt), reply_pub: toHex(state.reply.publicKey) };
}

function receiptScreen(answer) {
  state.receipt = answer.receipt;
  const code = answer.receipt;
  show(
    "s-receipt",
    header(tr("ui.receipt_title")),
    answer.urgent ? el("p", { class: "warn" }, tr("ui.sending_urgent")) : null,
    el("p", {}, tr("ui.receipt_code")),
    el("p", { class: "receipt", id: "receipt" }, code),
    el("p", {}, tr("ui.receipt_help")),
    el("p", { class: "small" }, tr("app.frames_note", { n: answer.frames })),
    el(
      "div",
      { class: "row" },
      button(`🖼️ ${tr("app.save_picture")}`, () => savePicture(code), "plain", { id: "save-picture" }),
      onBox ? null : button(`📱 ${tr("app.keep")}`, () => keep(code), "plain", { id: "keep" }),
    ),
    el("p", { class: "small", id: "kept" }, tr("app.picture_note")),
    button(tr("ui.done"), reset, "primary big", { id: "done" }),
  );
}

function savePicture(code) {
  const canvas = el("canvas", { width: "640", height: "200" });
  const g = canvas.getContext("2d");
  g.fillStyle = "#fff";
  g.fillRect(0, 0, 640, 200);
  g.fillStyle = "#000";
  g.font = "bold 88px monospace";
  g.textAlign = "center";
  g.textBaseline = "middle";
  g.fillText(code, 320, 100);
  canvas.toBlob((blob) => {
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: `${code.replace("-", "")}.png` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }, "image/png");
}

function saved() {
  try {
    return JSON.parse(localStorage.getItem(STORE) ?? "[]");
  } catch {
    return [];
  }
}

function keep(code) {
  // Only on the crew member's own phone (never on the box's screen), and only if asked: the
  // code and this grievance's reply key (for answers from shore, issue "two-way").
  const list = saved().filter((r) => r.code !== code);
  list.push({ code, reply_sk: state.reply ? toHex(state.reply.secretKey) : null });
  localStorage.setItem(STORE, JSON.stringify(list.slice(-5)));
  document.getElementById("kept").textContent = tr("app.kept");
}

function checkScreen() {
  state.found = null;
  const input = el("input", {
    id: "code",
    inputmode: "numeric",
    autocomplete: "off",
    maxlength: "20",
    "aria-label": tr("ui.lookup_prompt"),
  });
  const result = el("div", { id: "result", class: "result", role: "status" });
  const actions = el("div", { class: "row", id: "actions", hidden: true });
  const lookup = async (code) => {
    result.textContent = "…";
    actions.hidden = true;
    try {
      const a = await call("lookup", { receipt: code });
      input.value = "";
      if (!a.ok) {
        state.found = null;
        result.textContent = tr(a.error);
        return;
      }
      state.found = code;
      const lines = [`${tr("ui.state_label")} ${tr(`delivery.${a.delivery}`)}`];
      if (a.case != null) lines.push(`${tr("ui.state_label")} ${tr(`case.${a.case}`)}`);
      result.replaceChildren(...lines.map((l) => el("p", { class: "state" }, l)));
      if (a.notes.length) {
        result.append(el("p", { class: "label" }, tr("ui.notes_label")), el("ul", {}, a.notes.map((n) => el("li", {}, tr(`note.${n}`)))));
      }
      actions.hidden = false;
      await newsFromShore(code, result, actions);
    } catch {
      result.textContent = tr("app.offline");
    }
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") lookup(input.value);
  });
  actions.append(
    button(tr("ui.ask_news"), () => followUp(false), "primary", { id: "ask" }),
    button(tr("ui.withdraw"), () => withdrawScreen(), "warning", { id: "withdraw" }),
  );
  const mine = onBox ? [] : saved();
  show(
    "s-check",
    header(tr("ui.check")),
    el("label", { for: "code" }, tr("ui.lookup_prompt")),
    input,
    el(
      "div",
      { class: "row" },
      button(tr("ui.back"), homeScreen, "plain", { id: "back" }),
      button(tr("ui.lookup_button"), () => lookup(input.value), "primary", { id: "lookup" }),
    ),
    mine.length ? button(`📱 ${tr("app.use_kept")}`, () => lookup(mine[mine.length - 1].code), "plain", { id: "use-kept" }) : null,
    result,
    actions,
  );
  input.focus();
}

// --- messages from shore, and the answer (docs/wire-format.md §4.1) ------------------------------

async function newsFromShore(code, result, actions) {
  document.getElementById("read-messages")?.remove();
  const m = await call("messages", { receipt: code });
  if (!m.ok || !m.messages.length) return;
  result.append(el("p", { class: "warn", id: "new-messages" }, `✉️ ${tr("app.messages_new", { n: m.messages.length })}`));
  actions.prepend(button(`✉️ ${tr("app.read_messages")}`, () => messagesScreen(code, m), "primary", { id: "read-messages" }));
}

function cborUint(n) {
  if (n < 24) return [n];
  if (n < 256) return [0x18, n];
  if (n < 65536) return [0x19, n >> 8, n & 255];
  return [0x1a, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
}

// HPKE info of a shore message: "flip-sync/1 shore" ‖ CBOR [kid, grievance seq, message id].
function shoreInfo(kidHex, seq, id) {
  const head = [0x83, 0x44, ...fromHex(kidHex), ...cborUint(seq), ...cborUint(id)];
  return concat(te.encode("flip-sync/1 shore"), Uint8Array.from(head));
}

async function opened(code, m, msg) {
  if (msg.text != null) return { text: msg.text, lang: msg.lang };
  const digits = (s) => s.replace(/\D/g, "");
  const kept = (onBox ? [] : saved()).find((r) => digits(r.code) === digits(code) && r.reply_sk);
  if (kept) {
    try {
      const plain = open(fromHex(kept.reply_sk), shoreInfo(m.kid, m.seq, msg.id), fromHex(msg.sealed));
      const d = await call("decode", { opened: toHex(plain) });
      if (d.ok) return { text: d.text, lang: d.lang };
    } catch {
      // not sealed to the key kept here
    }
  }
  return { text: tr("app.sealed_elsewhere"), lang, sealed: true };
}

async function messagesScreen(code, m) {
  const list = el("div", { id: "messages" });
  for (const msg of m.messages) {
    const o = await opened(code, m, msg);
    const when = new Date(msg.time * 1000).toLocaleString(lang, { dateStyle: "medium", timeStyle: "short" });
    list.append(
      el(
        "div",
        { class: "message" },
        el("p", { class: "small" }, when),
        el("div", { class: o.sealed ? "words small" : "words", lang: o.lang ?? lang }, o.text),
      ),
    );
  }
  const answer = el("textarea", { id: "answer", rows: "4", maxlength: String(MAX_TEXT) });
  const error = el("p", { class: "error", id: "error", role: "alert" });
  const send = async () => {
    if (!answer.value.trim()) return;
    sendBtn.disabled = true;
    error.textContent = tr("app.sending");
    try {
      const a = await call("reply", { receipt: code, text: answer.value, lang });
      if (!a.ok) throw new Error(a.error);
      answer.value = "";
      show(
        "s-queued",
        header(tr("app.answer_sent")),
        button(tr("ui.done"), reset, "primary big", { id: "done" }),
      );
    } catch (e) {
      error.textContent = tr(String(e.message).startsWith("ui.") ? e.message : "app.offline");
      sendBtn.disabled = false;
    }
  };
  const sendBtn = button(tr("app.send_answer"), send, "primary big", { id: "send-answer" });
  show(
    "s-messages",
    header(tr("app.messages_title")),
    el("p", { class: "private" }, "🔒 ", tr("app.messages_private")),
    list,
    el("label", { for: "answer" }, tr("app.answer_label")),
    answer,
    error,
    el("div", { class: "row" }, button(tr("ui.back"), checkScreen, "plain", { id: "back" }), sendBtn),
  );
  document.querySelector("h1").focus();
}

function withdrawScreen() {
  const code = state.found;
  const error = el("p", { class: "error", role: "alert" });
  show(
    "s-withdraw",
    header(tr("ui.withdraw_title")),
    el("p", { class: "warn" }, tr("ui.withdraw_warning")),
    error,
    el(
      "div",
      { class: "row" },
      button(tr("ui.withdraw_cancel"), checkScreen, "primary", { id: "cancel" }),
      button(tr("ui.withdraw_confirm"), () => followUp(true, code, error), "danger", { id: "confirm" }),
    ),
  );
  document.querySelector("h1").focus();
}

async function followUp(withdraw, code = state.found, error = null) {
  try {
    const a = await call(withdraw ? "withdraw" : "ask", { receipt: code });
    if (!a.ok) throw new Error(a.error);
    state.found = null;
    show(
      "s-queued",
      header(tr(withdraw ? "ui.withdraw_sent" : "ui.ask_sent")),
      el("p", {}, tr("ui.followup_help")),
      button(tr("ui.done"), reset, "primary big", { id: "done" }),
    );
  } catch (e) {
    const msg = tr(String(e.message).startsWith("ui.") ? e.message : "app.offline");
    if (error) error.textContent = msg;
    else document.getElementById("result").textContent = msg;
  }
}

loadLang(boot.default).then(startScreen, startScreen);
