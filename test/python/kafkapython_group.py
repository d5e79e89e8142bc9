#!/usr/bin/env python3
"""kafka-python (the pure-Python client, 2.0.x) against a Samsa broker.

Two modes, each printing one JSON summary line on stdout (exit code 0 means
every check passed; "failures" says which did not):

roundtrip: a KafkaProducer (acks=all, gzip, keys, headers) sends --count
  records to --topic; a KafkaConsumer without a group assign()s every
  partition from the beginning and must read each record exactly once, at the
  partition and offset its send() future reported, with its key and headers.

group: consumer groups on --topic (--partitions partitions, empty at the
  start) in --group, each member a KafkaConsumer in its own thread:
  (b) members A and B split the partitions (each gets some, together all,
      none twice); records produced then are read exactly once; both commit;
  (c) B closes (LeaveGroup): A must own every partition within the session
      timeout and read what is produced next, with nothing B had committed
      delivered again; A commits and closes;
  (d) a new member C, started after more records are produced, resumes at
      the committed offsets: it reads the new records and no committed one.

The API version is auto-detected (ApiVersions probe) unless --api-version is
given; the summary reports what kafka-python settled on. Every wait has a
deadline; nothing sleeps to synchronise.
"""

import argparse
import collections
import json
import logging
import queue
import sys
import threading
import time
import traceback

import kafka
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition

# Group timings: short, so a rebalance takes a fraction of a second. The broker
# under test accepts session timeouts from 500ms.
SESSION_TIMEOUT_MS = 3000
HEARTBEAT_INTERVAL_MS = 100
MAX_POLL_INTERVAL_MS = 5000  # also the JoinGroup rebalance timeout
REQUEST_TIMEOUT_MS = 10000   # must exceed the two above


class Failed(Exception):
    pass


class ClientLog(logging.Handler):
    """Keeps kafka-python's warnings and errors for the summary."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):  # called with the handler's lock held
        if len(self.lines) < 30:
            self.lines.append("%s %s: %s" % (record.levelname, record.name, record.getMessage()))


def wait_for(what, cond, timeout):
    """Polls cond every 20ms until it returns true; raises Failed at timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if cond():
            return
        if time.monotonic() > deadline:
            raise Failed("waited %.1fs for %s" % (timeout, what))
        time.sleep(0.02)


def parse_api_version(s):
    if s in ("", "auto"):
        return None
    return tuple(int(x) for x in s.split("."))


def client_config(args):
    cfg = {"bootstrap_servers": args.bootstrap, "request_timeout_ms": REQUEST_TIMEOUT_MS}
    if args.api_version is not None:
        cfg["api_version"] = args.api_version
    return cfg


def version_str(v):
    return ".".join(str(x) for x in v) if v else None


def headers_for(i, tag):
    return [("index", str(i).encode()), ("tag", tag.encode())]


def produce(producer, topic, records, summary, timeout):
    """Sends records [(partition or None, key, value, headers)] and returns
    their (partition, offset) in order; raises Failed on a delivery error."""
    futures = [producer.send(topic, key=k, value=v, headers=h, partition=p) for p, k, v, h in records]
    producer.flush(timeout=timeout)
    out = []
    for f in futures:
        try:
            md = f.get(timeout=timeout)
        except Exception as e:  # noqa: BLE001 - reported
            raise Failed("delivery failed: %r" % (e,))
        out.append((md.partition, md.offset))
    summary["produced"] += len(out)
    return out


def new_producer(args, summary):
    p = KafkaProducer(acks="all", compression_type="gzip", linger_ms=5, retries=3,
                      client_id="kafkapython-producer", **client_config(args))
    summary["api_version"]["producer"] = version_str(p.config["api_version"])
    return p


def roundtrip(args, summary):
    producer = new_producer(args, summary)
    records = [(None, b"key-%d" % i, b"value-%d" % i, headers_for(i, "roundtrip")) for i in range(args.count)]
    try:
        placed = produce(producer, args.topic, records, summary, args.timeout)
    finally:
        producer.close(timeout=10)
    want = {po: i for i, po in enumerate(placed)}
    if len(want) != len(placed):
        raise Failed("two records were reported at the same partition and offset")
    summary["partitions_used"] = sorted({p for p, _ in placed})

    consumer = KafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                             fetch_max_wait_ms=100, client_id="kafkapython-roundtrip", **client_config(args))
    summary["api_version"]["consumer"] = version_str(consumer.config["api_version"])
    try:
        tps = [TopicPartition(args.topic, p) for p in range(args.partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        seen = {}
        deadline = time.monotonic() + args.timeout
        while len(seen) < len(want) and time.monotonic() < deadline:
            for tp, recs in consumer.poll(timeout_ms=200).items():
                for r in recs:
                    po = (r.partition, r.offset)
                    if po in seen:
                        summary["duplicates"] += 1
                        continue
                    seen[po] = r
        summary["consumed"] = len(seen)
        ends = consumer.end_offsets(tps)
        summary["end_offsets"] = {str(tp.partition): o for tp, o in sorted(ends.items())}
    finally:
        consumer.close(autocommit=False)

    bad = []
    for po, i in sorted(want.items()):
        r = seen.get(po)
        if r is None:
            bad.append("%d@%d (record %d) not read back" % (po + (i,)))
        elif r.key != b"key-%d" % i or r.value != b"value-%d" % i or list(r.headers) != headers_for(i, "roundtrip"):
            bad.append("%d@%d: key %r value %r headers %r, want record %d" % (po + (r.key, r.value, r.headers, i)))
    for po in sorted(set(seen) - set(want)):
        bad.append("%d@%d read but never produced" % po)
    if sum(ends.values()) != len(want):
        bad.append("end offsets %s add up to %d, want %d" % (summary["end_offsets"], sum(ends.values()), len(want)))
    if summary["duplicates"]:
        bad.append("%d records read twice" % summary["duplicates"])
    if bad:
        raise Failed("; ".join(bad[:10]))


class Member(ConsumerRebalanceListener):
    """A group member: a KafkaConsumer owned by one thread, which polls it and
    runs the commands ("commit", "close") the scenario sends."""

    def __init__(self, name, args, summary):
        self.name, self.args, self.summary = name, args, summary
        self.lock = threading.Lock()
        self.assigned = None  # partitions of the current generation; None before the first
        self.assignments = []
        self.records = []  # (partition, offset, key, value, headers)
        self.commands = queue.Queue()
        self.error = None
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)
        self.thread.start()

    # ConsumerRebalanceListener, called by poll() in the member's thread.
    def on_partitions_revoked(self, revoked):
        with self.lock:
            self.assigned = set()

    def on_partitions_assigned(self, assigned):
        with self.lock:
            self.assigned = {tp.partition for tp in assigned if tp.topic == self.args.topic}
            self.assignments.append(sorted(self.assigned))

    def run(self):
        try:
            c = KafkaConsumer(group_id=self.args.group, client_id="kafkapython-" + self.name,
                              enable_auto_commit=False, auto_offset_reset="earliest",
                              session_timeout_ms=SESSION_TIMEOUT_MS, heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
                              max_poll_interval_ms=MAX_POLL_INTERVAL_MS, fetch_max_wait_ms=100,
                              **client_config(self.args))
            self.summary["api_version"]["consumer"] = version_str(c.config["api_version"])
            c.subscribe([self.args.topic], listener=self)
            while True:
                try:
                    cmd, reply = self.commands.get_nowait()
                except queue.Empty:
                    cmd = None
                if cmd == "commit":
                    try:
                        c.commit()
                        reply.put(None)
                    except Exception as e:  # noqa: BLE001 - handed to the scenario
                        reply.put(e)
                elif cmd == "close":
                    c.close(autocommit=False)
                    reply.put(None)
                    return
                for tp, recs in c.poll(timeout_ms=50).items():
                    with self.lock:
                        self.records.extend((r.partition, r.offset, r.key, r.value, list(r.headers)) for r in recs)
        except Exception as e:  # noqa: BLE001 - reported
            self.error = "%s: %r" % (self.name, e)
            traceback.print_exc()
        finally:
            self.closed.set()

    def call(self, cmd, timeout):
        reply = queue.Queue()
        self.commands.put((cmd, reply))
        try:
            err = reply.get(timeout=timeout)
        except queue.Empty:
            raise Failed("%s: %s did not finish in %.0fs (%s)" % (self.name, cmd, timeout, self.error))
        if err is not None:
            raise Failed("%s: %s failed: %r" % (self.name, cmd, err))

    def close(self, timeout):
        self.call("close", timeout)
        self.thread.join(timeout)

    def current(self):
        with self.lock:
            return None if self.assigned is None else set(self.assigned)

    def offsets(self):
        with self.lock:
            return [(p, o) for p, o, _, _, _ in self.records]


def group(args, summary):
    parts = set(range(args.partitions))
    members = []
    t = args.timeout / 3  # per phase
    summary["timings"] = {}

    def wait(what, cond):
        """wait_for, failing at once when a member's thread has died."""
        def alive_and():
            for m in members:
                if m.error:
                    raise Failed(m.error)
            return cond()
        wait_for(what, alive_and, t)

    def all_offsets():
        out = []
        for m in members:
            out.extend(m.offsets())
        return out

    def exactly_once(what, want):
        """Every (p, o) of want read once across members, nothing else twice."""
        got = collections.Counter(all_offsets())
        dup = sorted(po for po, n in got.items() if n > 1)
        if dup:
            raise Failed("%s: read more than once: %s" % (what, dup[:10]))
        missing = sorted(set(want) - set(got))
        if missing:
            raise Failed("%s: never read: %s" % (what, missing[:10]))

    producer = new_producer(args, summary)
    try:
        def produce_phase(tag, per_partition):
            recs = []
            for p in sorted(parts):
                for i in range(per_partition):
                    recs.append((p, b"%s-%d-%d" % (tag.encode(), p, i), b"v", headers_for(i, tag)))
            return produce(producer, args.topic, recs, summary, t)

        # (b) A alone takes everything; with B the partitions are split.
        a = Member("A", args, summary)
        members.append(a)
        start = time.monotonic()
        wait("A to be assigned every partition", lambda: a.current() == parts)
        b = Member("B", args, summary)
        members.append(b)

        def split():
            sa, sb = a.current(), b.current()
            return sa and sb and not (sa & sb) and (sa | sb) == parts
        wait("A and B to split the partitions", split)
        summary["timings"]["join_and_split_s"] = round(time.monotonic() - start, 2)
        summary["split"] = {"A": sorted(a.current()), "B": sorted(b.current())}

        first = produce_phase("first", 10)
        wait("the first records to be read", lambda: set(first) <= set(all_offsets()))
        exactly_once("first records", first)
        for m in (a, b):
            own = m.current()
            stray = sorted(po for po in m.offsets() if po[0] not in own)
            if stray:
                raise Failed("%s read %s outside its assignment %s" % (m.name, stray[:10], sorted(own)))
        bad_hdr = [r for m in members for r in m.records if r[4] != headers_for(int(r[2].rsplit(b"-", 1)[1]), "first")]
        if bad_hdr:
            raise Failed("records read with wrong headers: %r" % bad_hdr[:3])
        a.call("commit", t)
        b.call("commit", t)
        committed = {p: 1 + max(o for q, o in first if q == p) for p in parts}

        # (c) B leaves: A owns everything within the session timeout.
        b_parts = b.current()
        start = time.monotonic()
        b.close(t)
        wait("A to be assigned every partition after B closed", lambda: a.current() == parts)
        handover = time.monotonic() - start
        summary["timings"]["handover_s"] = round(handover, 2)
        if handover > SESSION_TIMEOUT_MS / 1000:
            raise Failed("A got B's partitions %.2fs after B closed, more than the %dms session timeout"
                         % (handover, SESSION_TIMEOUT_MS))
        second = produce_phase("second", 5)
        wait("A to read the second records", lambda: set(second) <= set(a.offsets()))
        exactly_once("first and second records", first + second)
        again = sorted(po for po in a.offsets() if po[0] in b_parts and po[1] < committed[po[0]])
        if again:
            raise Failed("A was given records B had committed: %s" % again[:10])
        a.call("commit", t)
        committed = {p: 1 + max(o for q, o in second if q == p) for p in parts}
        a.close(t)

        # (d) a restarted member resumes at the committed offsets.
        third = produce_phase("third", 5)
        c = Member("C", args, summary)
        members.append(c)
        start = time.monotonic()
        wait("C to read the third records", lambda: set(third) <= set(c.offsets()))
        summary["timings"]["resume_s"] = round(time.monotonic() - start, 2)
        again = sorted(po for po in c.offsets() if po[1] < committed[po[0]])
        if again:
            raise Failed("the restarted member C was given committed records again: %s" % again[:10])
        exactly_once("all records", first + second + third)
        summary["resumed_from"] = {str(p): min(o for q, o in c.offsets() if q == p) for p in sorted(parts)}
        c.call("commit", t)
        c.close(t)
        summary["committed"] = {str(p): 1 + max(o for q, o in third if q == p) for p in sorted(parts)}
    finally:
        producer.close(timeout=10)
        summary["assignments"] = {m.name: m.assignments for m in members}
        summary["consumed"] = sum(len(m.records) for m in members)
        for m in members:
            if not m.closed.is_set():
                try:
                    m.close(5)
                except Failed:
                    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["roundtrip", "group"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", type=int, required=True)
    ap.add_argument("--group", default="kafkapython-group")
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--timeout", type=float, default=45.0)
    ap.add_argument("--api-version", type=parse_api_version, default=None,
                    help="e.g. 2.4.0; default: auto-detect through ApiVersions")
    args = ap.parse_args()

    log = ClientLog()
    logging.getLogger("kafka").addHandler(log)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(threadName)s %(levelname)s %(name)s: %(message)s")

    summary = {"library": "kafka-python %s" % kafka.__version__, "mode": args.mode, "produced": 0,
               "consumed": 0, "duplicates": 0, "api_version": {}, "failures": [], "client_log": log.lines}
    try:
        (roundtrip if args.mode == "roundtrip" else group)(args, summary)
    except Failed as e:
        summary["failures"].append(str(e))
    except Exception as e:  # noqa: BLE001 - reported
        traceback.print_exc()
        summary["failures"].append("unexpected %r" % (e,))
    summary["ok"] = not summary["failures"]
    print(json.dumps(summary), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
