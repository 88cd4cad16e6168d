// The reply key of a grievance, derived from its receipt code exactly as the agent derives it
// (vessel_agent/replykey.py), so that the phone that sent the report and whoever types the code
// on the box later hold the same key:
//   M   = scrypt(code, device salt, N, r, p = 1, 64 bytes)
//   key = HKDF-SHA256(M[16:], salt = 16 random bytes of this report, "flip-sync/1 reply key")
import { x25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { scryptAsync } from "@noble/hashes/scrypt.js";
import { sha256 } from "@noble/hashes/sha2.js";

const te = new TextEncoder();
const INFO = te.encode("flip-sync/1 reply key");
const RECEIPT_HASH_LEN = 16;

export async function derivedKeyPair(code, deviceSalt, n, r, salt) {
  const m = await scryptAsync(te.encode(code), deviceSalt, { N: n, r, p: 1, dkLen: 64 });
  const secretKey = hkdf(sha256, m.subarray(RECEIPT_HASH_LEN), salt, INFO, 32);
  return { secretKey, publicKey: x25519.getPublicKey(secretKey) };
}
