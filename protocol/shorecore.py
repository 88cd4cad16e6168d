"""The shore's logic as pure functions: one core, two stores.

The gateway (:mod:`shore_gateway.stages` and the modules it runs: ``device_state``,
``fragments``, ``collisions``, ``downlink.acks_for``) keeps a device's state in SQL;
:class:`protocol.shore.ShoreSession` keeps it in memory (the simulator, tests, the fuzzer).
Both call these functions, so both decide the same things:

- :func:`verify`: a parsed frame against the candidate keys of its kid;
- :func:`classify`: a message whose seq is stored already — a duplicate, or a *collision* (same
  seq, other content);
- :func:`join` and :func:`fragment_sets_to_drop`: durable reassembly and its bounds;
- :func:`advance`: a device's prefix, highest seq, missing ranges (labelled with the losses the
  vessel declared in heartbeat element 6) and hash chain after new seqs were stored, with the
  gap alert and chain verdicts that follow;
- :func:`acks`: what an ack may claim;
- :func:`gap_text`: the alert staff read.

Sans-IO: what a store must read (the stored digests above the prefix, a chain value from
genesis) is asked for through injected callables, only when the fast path cannot decide.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol import chain, frame, seqranges
from protocol.errors import BadSignature, Malformed, UnknownDevice
from protocol.messages import Ack, Fragment, UplinkMessage, decode_message
from protocol.seqranges import Declared

#: Missing ranges kept per device (the lowest); beyond them the store is read back.
MAX_GAP_RANGES = 64
#: Declared ranges kept per device (the lowest: nearest the prefix, where gaps are alerted).
MAX_DECLARED_RANGES = 1024
#: How a gap inside a range the vessel declared is labelled (heartbeat element 6 reasons).
DECLARED_LABELS = {
    1: "evicted on board (storage full)",
    2: "lost to outbox damage",
    3: "skipped after recovery",
}
# Partial fragment sets held per device. Beyond these the oldest sets are dropped: nothing of
# them was acknowledged, so an honest vessel sends them again, while a box that floods
# fragments cannot grow the store (or the gap scan) without bound.
MAX_FRAGMENT_SETS = 8
MAX_FRAGMENT_ROWS = 256
#: Seconds a fragment is held before it is dropped (at the vessel's next fragment).
FRAGMENT_TIMEOUT = 30 * 86400.0
#: Seqs above the prefix an ack may name: this many bitmaps of 256.
MAX_ACK_BITMAPS = 4
#: How many of the newest seqs stored above the prefix a store hands to :func:`acks`.
ACK_SEQS = 256 * MAX_ACK_BITMAPS

# --- verify ---------------------------------------------------------------------------------

C = TypeVar("C")


def verify(sign1: frame.Sign1, candidates: Sequence[C], key: Callable[[C], Ed25519PublicKey]) -> C:
    """The candidate whose key signed ``sign1`` (``key`` gives a candidate's public key).

    Raises:
        UnknownDevice: no live key has this kid.
        BadSignature: none of the keys under this kid signed it.
    """
    if not candidates:
        raise UnknownDevice(f"no live device key with kid {sign1.kid.hex()}")
    for candidate in candidates:
        try:
            frame.verify(sign1, key(candidate))
        except BadSignature:
            continue
        return candidate
    raise BadSignature(f"signature does not verify for kid {sign1.kid.hex()}")


# --- store --------------------------------------------------------------------------------


class Stored(Enum):
    """What storing a message under a seq that may be taken means."""

    NEW = "new"
    DUPLICATE = "duplicate"  # the same content again: acknowledge, do not process again
    COLLISION = "collision"  # other content under a stored seq: alert, hold acks


def classify(stored_digest: bytes | None, digest: bytes, *, taken: bool = True) -> Stored:
    """A message's fate given the digest stored under its seq (``taken``: a row exists)."""
    if not taken:
        return Stored.NEW
    return Stored.DUPLICATE if stored_digest == digest else Stored.COLLISION


# --- reassembly ---------------------------------------------------------------------------


def join(
    first_seq: int, count: int, parts: Sequence[tuple[int, int, bytes]]
) -> tuple[UplinkMessage, bytes] | None:
    """The whole message when ``parts`` — (index, count, chunk) of the fragments held for the
    set ``first_seq``, in index order — complete a set of ``count`` (the count of the fragment
    that just arrived); None while incomplete.

    Raises:
        Malformed: the parts disagree on their count or indices, or the joined bytes are not a
            message carrying ``first_seq``. The frame that completed the set is refused whole.
    """
    if len(parts) < count:
        return None
    if [p[0] for p in parts] != list(range(count)) or any(p[1] != count for p in parts):
        raise Malformed("fragments of one message disagree")
    encoded = b"".join(p[2] for p in parts)
    whole = decode_message(encoded)
    if getattr(whole, "seq", None) != first_seq or isinstance(whole, Fragment):
        raise Malformed("reassembled message does not carry its first fragment's seq")
    return whole, encoded  # type: ignore[return-value]  # it carries a seq: an uplink message


def fragment_sets_to_drop(sets: Sequence[tuple[int, int]], keep: int) -> list[int]:
    """First seqs of the partial sets to drop, from ``sets`` = (first seq, parts) oldest first,
    so that at most :data:`MAX_FRAGMENT_SETS` sets / :data:`MAX_FRAGMENT_ROWS` parts remain;
    the set being filled (``keep``) goes last."""
    rows = sum(n for _, n in sets)
    drop: list[int] = []
    for first_seq, n in sets:
        if len(sets) - len(drop) <= MAX_FRAGMENT_SETS and rows <= MAX_FRAGMENT_ROWS:
            break
        if first_seq == keep:
            continue
        drop.append(first_seq)
        rows -= n
    return drop


# --- a device's progress ------------------------------------------------------------------


@dataclass(slots=True)
class Progress:
    """What the shore keeps per device between arrivals (a ``device_state`` row)."""

    prefix: int = 0  # every seq up to here is stored: what a cumulative ack may claim
    highest: int = 0  # the highest seq stored or held as a fragment
    chain_seq: int = 0  # the device hash chain recomputed this far (contiguous digests)
    chain_value: bytes = chain.GENESIS
    missing: list[list[int]] = field(default_factory=list)  # labelled ranges last alerted
    declared: list[Declared] = field(default_factory=list)  # the vessel's own loss claims


class Verdict(Enum):
    VERIFIED = "verified"
    MISMATCHED = "mismatched"  # a message differs from what the vessel sent
    UNVERIFIABLE = "unverifiable"  # a message up to it has no digest: nothing to compare


@dataclass(slots=True)
class Advanced:
    """What one :func:`advance` means for staff and the store."""

    gap_alert: list[list[int]] | None = None  # raise a gap alert listing these ranges
    gaps_resolved: bool = False  # close the open gap alerts (before raising the new one)
    checked: list[tuple[int, Verdict]] = field(default_factory=list)  # claims settled (drop)


#: ``history(after)``: (seq → digest of every stored message above ``after``, seqs of the
#: fragments held). ``recompute(upto)``: the chain value at ``upto`` from genesis, or None.
History = Callable[[int], tuple[Mapping[int, bytes | None], Iterable[int]]]
Recompute = Callable[[int], bytes | None]


def advance(
    p: Progress,
    added: Mapping[int, bytes | None],
    *,
    complete: bool,
    history: History,
    recompute: Recompute,
    declared: Iterable[Declared] = (),
    claims: Iterable[tuple[int, bytes]] = (),
) -> Advanced:
    """Move prefix, highest, missing ranges and the chain over what arrived.

    ``added`` is what the store took in this time (seq → digest); ``complete`` says it is all
    that changed (no fragments moved). Then nothing is read back unless the prefix could move
    over messages stored earlier (the oldest gap was filled): the missing ranges are updated
    from the stored ones, so a device with a permanent gap costs the same per arrival as one
    without. Otherwise ``history`` is read. ``declared`` are ranges heartbeats declared lost
    (element 6): they label gaps but never move the prefix or the chain — nothing arrived for
    them. ``claims`` are heartbeat checkpoints (last seq, chain value) waiting for the chain.
    """
    p.declared = seqranges.declare(p.declared, declared, limit=MAX_DECLARED_RANGES)
    before = seqranges.merge(p.missing)
    digests = dict(sorted(added.items()))
    nothing_stored_above = p.highest == p.prefix
    if (
        complete
        and p.chain_seq == p.prefix
        and len(before) < MAX_GAP_RANGES  # the stored list is the whole truth
        and (nothing_stored_above or p.prefix + 1 not in digests)
    ):
        highest = p.highest
        while p.prefix + 1 in digests:
            p.prefix += 1
        p.highest = max([highest, *digests])
        ranges = seqranges.update_gaps(before, highest, digests, MAX_GAP_RANGES)
    else:
        stored, held = history(min(p.prefix, p.chain_seq))
        digests = dict(stored)
        pending = set(held)
        while p.prefix + 1 in digests:
            p.prefix += 1
        p.highest = max([p.highest, *digests, *pending])
        ranges = seqranges.gap_ranges(p.prefix, set(digests) | pending, MAX_GAP_RANGES)
    out = Advanced()
    _gaps(p, ranges, out)
    _chain(p, digests, claims, recompute, out)
    if p.declared:
        p.declared = seqranges.declare(p.declared, (), below=p.prefix, limit=MAX_DECLARED_RANGES)
    return out


def _gaps(p: Progress, ranges: list[list[int]], out: Advanced) -> None:
    before = p.missing
    if not ranges and not before:
        return  # the common case: nothing was missing, nothing is
    ranges = seqranges.label(ranges, p.declared)
    p.missing = ranges
    reason = seqranges.reason
    new = [
        r
        for r in ranges
        if not any(b[0] <= r[0] and r[1] <= b[1] and reason(b) == reason(r) for b in before)
    ]
    # Seqs alerted as missing that the vessel now declares lost: the earlier alert said less
    # than the new one will, so it is closed and the new one lists every range.
    relabelled = any(
        reason(r) and not reason(b) and b[0] <= r[1] and r[0] <= b[1]
        for r in ranges
        for b in before
    )
    out.gaps_resolved = not ranges or relabelled
    if ranges and new:
        out.gap_alert = ranges


def _chain(
    p: Progress,
    digests: Mapping[int, bytes | None],
    claims: Iterable[tuple[int, bytes]],
    recompute: Recompute,
    out: Advanced,
) -> None:
    claims = sorted(claims)
    values = {p.chain_seq: p.chain_value}
    value, seq = p.chain_value, p.chain_seq
    wanted = {last for last, _ in claims}
    while (digest := digests.get(seq + 1)) is not None:
        seq += 1
        value = chain.advance(value, seq, digest)
        if seq in wanted:
            values[seq] = value
    p.chain_seq, p.chain_value = seq, value
    for last_seq, claimed in claims:
        if last_seq > seq:
            continue
        known = values.get(last_seq)
        if known is None:
            known = recompute(last_seq)
        verdict = (
            Verdict.UNVERIFIABLE
            if known is None
            else Verdict.VERIFIED
            if known == claimed
            else Verdict.MISMATCHED
        )
        out.checked.append((last_seq, verdict))


def chain_from(rows: Iterable[tuple[int, bytes | None]], upto: int) -> bytes | None:
    """The chain value at ``upto`` from genesis over stored (seq, digest) rows up to it in
    order; None if a message up to it is missing or has no digest."""
    value = chain.GENESIS
    n = 0
    for expected, (seq, digest) in enumerate(rows, start=1):
        if seq != expected or digest is None:
            return None
        value = chain.advance(value, seq, digest)
        n = expected
    return value if n == upto else None


# --- acks -----------------------------------------------------------------------------------


def acks(prefix: int, above: Sequence[int], *, held: bool = False) -> list[Ack]:
    """Acks telling the vessel what arrived: the prefix and ``above`` — the newest seqs stored
    above it (at most :data:`ACK_SEQS`, ascending). None while ``held`` (a collision
    is open: an ack names seqs, so the box could delete what never arrived).

    Only stored seqs are claimed — an ack lets the vessel delete a message.
    """
    if held:
        return []
    if not above:
        return [Ack(cum_seq=prefix)]
    out: list[Ack] = []
    rest: list[int] = list(above)
    base = prefix + 1 if rest[0] - prefix <= 256 else rest[0]
    while rest and len(out) < MAX_ACK_BITMAPS:
        ack = Ack.of(prefix, rest, base=base)
        out.append(ack)
        covered = set(ack.seqs())
        rest = [s for s in rest if s not in covered]
        if rest:
            base = rest[0]
    return out


# --- words for staff ----------------------------------------------------------------------


def _seqs(ranges: Iterable[Sequence[int]]) -> str:
    return ", ".join(f"{r[0]}" if r[0] == r[1] else f"{r[0]}–{r[1]}" for r in ranges)


def gap_text(name: str, ranges: list[list[int]], *, highest: int, last_contact: str | None) -> str:
    """The alert staff read: plain gaps as "missing"; gaps inside ranges the vessel declared
    with its reason — as the device's claim, which nothing ashore can check (a doctored agent
    could call a suppressed grievance "evicted")."""
    reason = seqranges.reason
    since = last_contact or "?"  # the store's clock, as the store writes it
    tail = f"highest received {highest}, last contact {since}"
    plain = [r for r in ranges if not reason(r)]
    reasons = sorted({reason(r) for r in ranges} - {0})
    if not reasons:
        return f"messages missing from vessel {name} (seq {_seqs(plain)}; {tail})"
    claims = "; ".join(
        f"seq {_seqs(r for r in ranges if reason(r) == why)} "
        + DECLARED_LABELS.get(why, f"declared not sent (reason {why})")
        for why in reasons
    )
    head = f"messages missing from vessel {name} (seq {_seqs(plain)}); " if plain else ""
    return (
        f"{head}vessel {name} says it never sent {claims} — the device's own claim, "
        f"not verifiable ashore ({tail})"
    )


def chain_text(name: str, last_seq: int) -> str:
    """The alert staff read when the chain disagrees with a heartbeat's checkpoint."""
    return (
        f"hash chain of vessel {name} disagrees at seq {last_seq}: a message differs from "
        "what was sent"
    )
