#!/usr/bin/env python3
"""Round trip through confluent-kafka-python (librdkafka) against a Samsa broker.

Produces --count keyed records with headers (acks=all, idempotence on, lz4),
flushes, then reads them back with a Consumer that assign()s every partition
at OFFSET_BEGINNING (no subscribe, no commits: group.py covers groups, but
librdkafka requires a group.id), checks every record and
prints one JSON summary line on stdout. Exit code 0 means every record came
back exactly once, intact, at the offset its delivery report named.
"""

import argparse
import json
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--partitions", type=int, required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()

    summary = {
        "produced": 0, "delivered": 0, "consumed": 0, "duplicates": 0,
        "mismatches": [], "delivery_errors": [], "consume_errors": [], "client_errors": [],
        "library": "confluent-kafka %s / librdkafka %s" % (
            __import__("confluent_kafka").version()[0], __import__("confluent_kafka").libversion()[0]),
    }

    def on_client_error(err):
        if len(summary["client_errors"]) < 20:
            summary["client_errors"].append(str(err))

    delivered = {}  # idx -> (partition, offset)

    def on_delivery(err, msg):
        idx = int(msg.key().split(b"-")[1])
        if err is not None:
            if len(summary["delivery_errors"]) < 20:
                summary["delivery_errors"].append("record %d: %s" % (idx, err))
            return
        delivered[idx] = (msg.partition(), msg.offset())

    producer = Producer({
        "bootstrap.servers": args.bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "compression.type": "lz4",
        "linger.ms": 5,
        "error_cb": on_client_error,
    })
    for i in range(args.count):
        while True:
            try:
                producer.produce(args.topic, key=b"key-%d" % i, value=expected_value(i),
                                 headers=[("idx", str(i).encode()), ("src", b"python")],
                                 on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        summary["produced"] += 1
        producer.poll(0)
    remaining = producer.flush(args.timeout)
    if remaining:
        summary["delivery_errors"].append("%d records still undelivered after flush" % remaining)
    summary["delivered"] = len(delivered)

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": "samsa-python-roundtrip",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "error_cb": on_client_error,
    })
    consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in range(args.partitions)])
    seen = set()
    deadline = time.monotonic() + args.timeout
    while len(seen) < len(delivered) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() != KafkaError._PARTITION_EOF and len(summary["consume_errors"]) < 20:
                summary["consume_errors"].append(str(msg.error()))
            continue
        summary["consumed"] += 1
        problem = check(msg, delivered)
        idx = record_index(msg)
        if idx in seen:
            summary["duplicates"] += 1
        seen.add(idx)
        if problem and len(summary["mismatches"]) < 20:
            summary["mismatches"].append(problem)
    consumer.close()

    ok = (summary["produced"] == args.count and summary["delivered"] == args.count
          and summary["consumed"] == args.count and summary["duplicates"] == 0
          and not summary["mismatches"] and not summary["delivery_errors"] and not summary["consume_errors"])
    summary["ok"] = ok
    print(json.dumps(summary))
    return 0 if ok else 1


def expected_value(i):
    return ("value-%d " % i).encode() * (1 + i % 7)


def record_index(msg):
    for k, v in msg.headers() or []:
        if k == "idx":
            return int(v)
    return -1


def check(msg, delivered):
    idx = record_index(msg)
    where = "partition %d offset %d" % (msg.partition(), msg.offset())
    if idx < 0:
        return "%s: no idx header" % where
    if msg.key() != b"key-%d" % idx:
        return "%s: key %r, want %r" % (where, msg.key(), b"key-%d" % idx)
    if msg.value() != expected_value(idx):
        return "%s: value of record %d differs" % (where, idx)
    if msg.headers() != [("idx", str(idx).encode()), ("src", b"python")]:
        return "%s: headers %r" % (where, msg.headers())
    if delivered.get(idx) != (msg.partition(), msg.offset()):
        return "%s: record %d was delivered at %r" % (where, idx, delivered.get(idx))
    return None


if __name__ == "__main__":
    sys.exit(main())
