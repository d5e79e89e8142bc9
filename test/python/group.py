#!/usr/bin/env python3
"""A confluent-kafka-python (librdkafka) group consumer against a Samsa broker.

Subscribes to --topic in --group (offsets from the start when the group has
none committed), reads until --expect records have arrived, commits
synchronously, closes (leaving the group) and prints one JSON summary line on
stdout: every delivered partition@offset, and errors. Exit code 0 means the
records arrived and the commit succeeded.
"""

import argparse
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()

    summary = {"delivered": [], "consume_errors": [], "client_errors": [], "commit_error": None,
               "assigned": [], "library": "confluent-kafka %s / librdkafka %s" % (
                   __import__("confluent_kafka").version()[0], __import__("confluent_kafka").libversion()[0])}

    def on_client_error(err):
        if len(summary["client_errors"]) < 20:
            summary["client_errors"].append(str(err))

    def on_assign(consumer, partitions):
        summary["assigned"].extend(p.partition for p in partitions)

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "error_cb": on_client_error,
    })
    consumer.subscribe([args.topic], on_assign=on_assign)
    deadline = time.time() + args.timeout
    while len(summary["delivered"]) < args.expect and time.time() < deadline:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error() is not None:
            if msg.error().code() != KafkaError._PARTITION_EOF and len(summary["consume_errors"]) < 20:
                summary["consume_errors"].append(str(msg.error()))
            continue
        summary["delivered"].append([msg.partition(), msg.offset()])
    try:
        consumer.commit(asynchronous=False)
    except Exception as e:  # noqa: BLE001 - reported, not handled
        summary["commit_error"] = str(e)
    consumer.close()

    ok = len(summary["delivered"]) == args.expect and summary["commit_error"] is None and not summary["consume_errors"]
    summary["ok"] = ok
    print(json.dumps(summary))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
