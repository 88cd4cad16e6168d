"""The shore seam filled with the real gateway: ``shore_gateway`` on SQLite under the virtual clock.

``flip sim run --shore gateway`` swaps :class:`simulator.shore.ShoreSide` for this: every MO goes
through :meth:`shore_gateway.pipeline.Pipeline.ingest` (verify, store, dedupe by the UNIQUE
(vessel, seq) key, reassemble, decrypt, enrich, open a case with the built-in case desk in the
same transaction), case updates through :func:`shore_gateway.cases.desk.transition`, and MT
frames come from :func:`shore_gateway.downlink.plan` (acks + queued case statuses), marked
confirmed when the provider takes them. One SQLite transaction per frame: for small fleets.

The gateway reads the wall clock for bookkeeping columns (``created_at``, ``confirmed_at``);
everything the simulator measures uses the virtual time passed in.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from protocol import frame, links
from protocol.crew import CrewContent
from protocol.crew import Grievance as GrievanceContent
from protocol.downlinks import CaseState, CaseStatus
from protocol.keys import public_pem
from protocol.lang import lang_from_tag
from protocol.messages import CrewMessage, Fragment
from simulator.errors import SimError
from simulator.shore import Received


def uuid_for(device: str, n: int) -> str:
    """A stable UUID for the ``n``-th event of ``device`` (same run, same ids)."""
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"flip-sim/{device}/{n}"))


class GatewayShore:
    """A :class:`~simulator.shore.ShoreSide` look-alike backed by ``shore_gateway``."""

    def __init__(
        self,
        *,
        sign_key: Ed25519PrivateKey,
        seal_key: X25519PrivateKey,
        devices: dict[bytes, tuple[str, Ed25519PublicKey]],
        imeis: dict[str, str],
        updates: list[tuple[float, CaseState]],
    ) -> None:
        from shore_gateway.db import Database
        from shore_gateway.downlink import parse_route
        from shore_gateway.hooks import default_hooks
        from shore_gateway.metrics import Metrics
        from shore_gateway.pipeline import Pipeline
        from shore_gateway.registry import VesselIds, add_vessel

        self._tmp = tempfile.TemporaryDirectory(prefix="flip-sim-gw-")
        self.db = Database(f"sqlite:///{Path(self._tmp.name) / 'gateway.sqlite3'}")
        self.db.migrate()
        self.kids = {name: kid for kid, (name, _) in devices.items()}
        self.vid: dict[str, int] = {}
        with self.db.session() as s:
            for _kid, (name, pub) in devices.items():
                v = add_vessel(s, name, public_pem(pub), VesselIds(imei=imeis[name]))
                s.flush()
                assert v.id is not None
                self.vid[name] = v.id
            s.commit()
        self.pipeline = Pipeline(self.db, Metrics(), seal_keys=[seal_key], hooks=default_hooks())
        self.route = parse_route("directip://127.0.0.1:10800")
        self.sign_key = sign_key
        self.imeis = imeis
        self.updates = updates
        self.desk = self
        self.signed = 0
        self.seen: dict[str, set[int]] = {name: set() for name in self.vid}
        self.reported: set[int] = set()
        self.mt: dict[str, deque[tuple[bytes, Any]]] = {name: deque() for name in self.vid}
        self.dirty: set[str] = set()
        self.momsn = 0
        self.catches = 0

    def close(self) -> None:
        self.db.dispose()
        self._tmp.cleanup()

    # --- uplink ---------------------------------------------------------------------------

    def receive(self, data: bytes, now: float, *, max_size: int = frame.UPLINK_MAX) -> Received:
        """Hand one MO to the gateway pipeline as DirectIP would.

        Raises:
            SimError: the gateway refused a frame the simulated device signed.
        """
        from shore_gateway.pipeline_api import ArrivalMeta, Outcome

        sign1 = frame.parse(data, max_size=max_size)
        name = next(n for n, k in self.kids.items() if k == sign1.kid)
        msgs = [m for m, _ in links.parse_uplink(sign1.payload)]
        seqs = [m.seq for m in msgs if m.seq is not None]
        crew = {m.seq for m in msgs if isinstance(m, CrewMessage)}
        crew |= {m.first_seq for m in msgs if isinstance(m, Fragment)}
        self.momsn += 1
        when = dt.datetime.fromtimestamp(now, dt.UTC)
        result = self.pipeline.ingest(
            data,
            ArrivalMeta(
                channel="cloudloop" if max_size > frame.UPLINK_MAX else "directip",
                imei=self.imeis[name],
                momsn=self.momsn & 0xFFFF,
                provider_time=when,
                received_at=when,
            ),
        )
        if result.outcome is Outcome.REJECTED:
            raise SimError(f"gateway refused a frame from {name}: {result.reason}")
        out = Received(device=name)
        seen = self.seen[name]
        out.new_seqs = [q for q in seqs if q not in seen]
        out.suppressed = len(seqs) - len(out.new_seqs)
        seen.update(seqs)
        for seq, gid, content, rows in self._grievances(name, crew):
            if gid in self.reported:
                continue
            self.reported.add(gid)
            out.crew.append((seq, content))
            out.surfaced += rows - 1
        self.dirty.add(name)
        return out

    def _grievances(self, name: str, seqs: set[int]) -> list[tuple[int, int, CrewContent, int]]:
        """Stored grievances of ``name`` whose message seq is in ``seqs``: (seq, id, content,
        number of rows for that seq — more than one would be a duplicate that surfaced)."""
        if not seqs:
            return []
        from sqlmodel import col, select

        from shore_gateway.models import Grievance, Message

        with self.db.session() as s:
            rows = s.exec(
                select(Message.seq, Grievance)
                .join(Grievance, col(Grievance.message_id) == col(Message.id))
                .where(Message.vessel_id == self.vid[name], col(Message.seq).in_(seqs))
            ).all()
        counts: dict[int, int] = {}
        for seq, _g in rows:
            counts[seq] = counts.get(seq, 0) + 1
        out: list[tuple[int, int, CrewContent, int]] = []
        for seq, g in rows:
            assert g.id is not None
            content = GrievanceContent(category=g.category, lang=lang_from_tag(g.lang), text=g.text)
            out.append((seq, g.id, content, counts[seq]))
        return out

    # --- case desk seam (the real desk opened the case inside ingest) ----------------------

    def open_case(
        self, device: str, seq: int, content: CrewContent, now: float
    ) -> tuple[str, list[tuple[float, CaseState]]]:
        return f"{device}/{seq}", [(now + dt_s, state) for dt_s, state in self.updates]

    def queue_status(self, device: str, status: CaseStatus) -> None:
        """A later case update: move the case along the desk's workflow (it queues the MT)."""
        from sqlmodel import select

        from shore_gateway.cases import desk
        from shore_gateway.cases.models import Case, CaseGrievance
        from shore_gateway.cases.workflow import Status, path_to
        from shore_gateway.models import Grievance, Message

        with self.db.session() as s:
            row: Any = s.exec(
                select(Case)
                .join(CaseGrievance, CaseGrievance.case_id == Case.id)  # type: ignore[arg-type]
                .join(Grievance, Grievance.id == CaseGrievance.grievance_id)  # type: ignore[arg-type]
                .join(Message, Message.id == Grievance.message_id)  # type: ignore[arg-type]
                .where(Message.vessel_id == self.vid[device], Message.seq == status.ref_seq)
            ).first()
            if row is None:
                return
            target = Status[CaseState(status.status).name]
            for step in path_to(row.status, target):
                desk.transition(s, row, step, actor="simulator")
            s.commit()
        self.dirty.add(device)

    # --- catch (GDST 1.2 on EPCIS 2.0, FIELD-FACTS §6) ------------------------------------

    def catch_event(
        self, device: str, when: float, trip_began: float, lat: float, lon: float
    ) -> int:
        """Post one fishing event for ``device`` to the gateway's EPCIS ingest; accepted count."""
        import json

        from shore_gateway.context.epcis import ingest_epcis

        self.catches += 1
        iso = dt.datetime.fromtimestamp(when, dt.UTC).isoformat().replace("+00:00", "Z")
        trip = dt.datetime.fromtimestamp(trip_began, dt.UTC).date().isoformat()
        n = self.catches
        doc = {
            "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": iso,
            "epcisBody": {
                "eventList": [
                    {
                        "type": "ObjectEvent",
                        "eventID": f"urn:uuid:{uuid_for(device, n)}",
                        "eventTime": iso,
                        "eventTimeZoneOffset": "+00:00",
                        "action": "ADD",
                        "bizStep": "urn:gdst:bizStep:fishingEvent",
                        "quantityList": [
                            {
                                "epcClass": f"urn:gdst:flip-sim:lot:{device}.{n}",
                                "quantity": 250.0,
                                "uom": "KGM",
                            }
                        ],
                        "ilmd": {
                            "cbvmda:vesselCatchInformationList": {
                                "cbvmda:vesselCatchInformation": [
                                    {
                                        "cbvmda:vesselName": device,
                                        "cbvmda:vesselID": device,
                                        "cbvmda:catchArea": "urn:gdst:fao:57",
                                        "gdst:vesselTripDate": trip,
                                        "cbvmda:fishingGearTypeCode": "09.4",
                                        "cbvmda:catchLatitude": round(lat, 4),
                                        "cbvmda:catchLongitude": round(lon, 4),
                                    }
                                ]
                            }
                        },
                    }
                ]
            },
        }
        with self.db.session() as s:
            result = ingest_epcis(s, json.dumps(doc).encode())
        return int(result["accepted"])

    # --- downlink -------------------------------------------------------------------------

    def pull_mt(self, device: str, now: float) -> tuple[bytes | None, int]:
        """The gateway's downlink plan for this vessel, taken by the provider's MT queue."""
        from shore_gateway.downlink import mark_confirmed, plan

        q = self.mt[device]
        if device in self.dirty:
            self.dirty.discard(device)
            with self.db.session() as s:
                batches = plan(
                    s,
                    [self.vid[device]],
                    sign_key=self.sign_key,
                    now=int(now),
                    default_route=self.route,
                )
            # Frames not yet fetched are replaced: their downlinks are still unconfirmed, so
            # the new plan carries them again with fresher acks.
            q.clear()
            for b in batches:
                q.extend((f, b if i == len(b.frames) - 1 else None) for i, f in enumerate(b.frames))
                self.signed += len(b.frames)
        if not q:
            return None, 0
        data, batch = q.popleft()
        if batch is not None:  # the provider has taken the batch's last frame
            with self.db.session() as s:
                mark_confirmed(s, batch)
                s.commit()
        return data, len(q)

    def has_mt(self, device: str) -> bool:
        return device in self.dirty or bool(self.mt[device])
