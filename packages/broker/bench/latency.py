"""Produce latency at a fixed rate with confluent-kafka (librdkafka), acks=all: each record's time
from produce() to its delivery report. Prints JSON: sorted latencies in microseconds, and errors.

usage: latency.py BOOTSTRAP TOPIC RATE_PER_S SECONDS VALUE_BYTES
"""
import json
import sys
import time

from confluent_kafka import Producer

bootstrap, topic = sys.argv[1], sys.argv[2]
rate, seconds, value_bytes = int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
value = b'v' * value_bytes
latencies = []
errors = []




producer = Producer({'bootstrap.servers': bootstrap, 'acks': 'all', 'linger.ms': 0, 'enable.idempotence': False})
# Warm up: metadata and the connection, outside the measurement.
producer.produce(topic, value=value)
producer.flush(10)

total = int(rate * seconds)
interval = 1.0 / rate
started = time.perf_counter()
for i in range(total):
    due = started + i * interval
    # Wait inside poll() (serving delivery reports) rather than spinning: a busy client would
    # take the CPU the broker needs on a small machine.
    while True:
        now = time.perf_counter()
        if now >= due:
            break
        producer.poll(due - now)
    sent_at = time.perf_counter()

    def report(error, message, sent_at=sent_at):
        if error is not None:
            errors.append(str(error))
        else:
            latencies.append(int((time.perf_counter() - sent_at) * 1e6))

    producer.produce(topic, value=value, on_delivery=report)
    producer.poll(0)
producer.flush(30)
elapsed = time.perf_counter() - started
latencies.sort()
print(json.dumps({'latencies_us': latencies, 'errors': errors[:5], 'achieved_rate': total / elapsed}))
