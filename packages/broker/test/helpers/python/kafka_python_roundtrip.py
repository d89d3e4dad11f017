"""Produce keyed messages with kafka-python (acks=all), then read them back with assign() and
seek_to_beginning (no group). Prints one JSON object like confluent_roundtrip.py.

usage: kafka_python_roundtrip.py BOOTSTRAP TOPIC PARTITIONS COUNT
"""
import json
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

bootstrap, topic, partitions, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

producer = KafkaProducer(bootstrap_servers=bootstrap, acks='all', linger_ms=5)
futures = []
for i in range(count):
    key = 'key-%d' % (i % 53)
    value = '%s.%d' % (key, i)
    futures.append((key, value, producer.send(topic, key=key.encode(), value=value.encode())))
producer.flush(30)
acknowledged = []
failures = []
for key, value, future in futures:
    try:
        metadata = future.get(timeout=10)
        acknowledged.append([key, value, metadata.partition, metadata.offset])
    except Exception as error:  # report, do not hide: the test asserts there are none
        failures.append(repr(error))
producer.close()

consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, consumer_timeout_ms=3000)
assigned = [TopicPartition(topic, p) for p in range(partitions)]
consumer.assign(assigned)
consumer.seek_to_beginning(*assigned)
consumed = []
deadline = time.monotonic() + 60
while len(consumed) < len(acknowledged) and time.monotonic() < deadline:
    for records in consumer.poll(timeout_ms=1000).values():
        for record in records:
            consumed.append([record.key.decode(), record.value.decode(), record.partition, record.offset])
consumer.close()

print(json.dumps({'acknowledged': acknowledged, 'consumed': consumed, 'failures': failures, 'unflushed': 0}))
