// HPKE base mode, single shot (RFC 9180 §5.1.1, §6.1) for one suite only — the one of
// docs/wire-format.md §4: DHKEM(X25519, HKDF-SHA256) 0x0020 / HKDF-SHA256 0x0001 /
// ChaCha20-Poly1305 0x0003. Output = enc (32 B) ‖ ciphertext ‖ tag (16 B).
//
// Built on the audited @noble libraries rather than @hpke/core: @hpke/core needs WebCrypto's
// crypto.subtle, which browsers give only to secure contexts (https or localhost) — a page on
// http://<vessel LAN address> has none. The noble code is pure JS and needs only
// crypto.getRandomValues, which every context has. Interoperability with Python's
// `cryptography` HPKE (protocol/seal.py) is tested both ways (tests/vessel_agent/crewapp).
import { x25519 } from "@noble/curves/ed25519.js";
import { extract as hkdfExtract, expand as hkdfExpand } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";

const enc = new TextEncoder();
const KEM_ID = [0x00, 0x20];
const KEM_SUITE = concat(enc.encode("KEM"), Uint8Array.from(KEM_ID));
const HPKE_SUITE = concat(enc.encode("HPKE"), Uint8Array.from([0x00, 0x20, 0x00, 0x01, 0x00, 0x03]));
const V1 = enc.encode("HPKE-v1");
const EMPTY = new Uint8Array(0);

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

function labeledExtract(suite, salt, label, ikm) {
  return hkdfExtract(sha256, concat(V1, suite, enc.encode(label), ikm), salt);
}

function labeledExpand(suite, prk, label, info, length) {
  const l = Uint8Array.from([length >> 8, length & 0xff]);
  return hkdfExpand(sha256, prk, concat(l, V1, suite, enc.encode(label), info), length);
}

function kemShared(dh, kemContext) {
  const prk = labeledExtract(KEM_SUITE, EMPTY, "eae_prk", dh);
  return labeledExpand(KEM_SUITE, prk, "shared_secret", kemContext, 32);
}

function keySchedule(shared, info) {
  const pskIdHash = labeledExtract(HPKE_SUITE, EMPTY, "psk_id_hash", EMPTY);
  const infoHash = labeledExtract(HPKE_SUITE, EMPTY, "info_hash", info);
  const context = concat(Uint8Array.from([0]), pskIdHash, infoHash);
  const secret = labeledExtract(HPKE_SUITE, shared, "secret", EMPTY);
  return {
    key: labeledExpand(HPKE_SUITE, secret, "key", context, 32),
    nonce: labeledExpand(HPKE_SUITE, secret, "base_nonce", context, 12),
  };
}

/** A fresh X25519 key pair: {secretKey, publicKey} (32 bytes each). */
export function newKeyPair() {
  const secretKey = x25519.utils.randomSecretKey();
  return { secretKey, publicKey: x25519.getPublicKey(secretKey) };
}

/** Seal `plaintext` to the raw X25519 public key `pkR` (base mode, aad empty). */
export function seal(pkR, info, plaintext, ephemeral = newKeyPair()) {
  const dh = x25519.getSharedSecret(ephemeral.secretKey, pkR);
  const shared = kemShared(dh, concat(ephemeral.publicKey, pkR));
  const { key, nonce } = keySchedule(shared, info);
  return concat(ephemeral.publicKey, chacha20poly1305(key, nonce).encrypt(plaintext));
}

/** Open `sealed` (enc ‖ ct) with the raw X25519 secret key `skR`; throws if it does not open. */
export function open(skR, info, sealed) {
  if (sealed.length < 48) throw new Error("sealed reply too short");
  const pkE = sealed.subarray(0, 32);
  const pkR = x25519.getPublicKey(skR);
  const dh = x25519.getSharedSecret(skR, pkE);
  const shared = kemShared(dh, concat(pkE, pkR));
  const { key, nonce } = keySchedule(shared, info);
  return chacha20poly1305(key, nonce).decrypt(sealed.subarray(32));
}
