"""Produce keyed messages with confluent-kafka (librdkafka), acks=all, then read them back with a
plain assign()-based consumer (no group). Prints one JSON object: what was acknowledged and what
was consumed, each as [key, value, partition, offset].

usage: confluent_roundtrip.py BOOTSTRAP TOPIC PARTITIONS COUNT
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

bootstrap, topic, partitions, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
deadline = time.monotonic() + 60

acknowledged = []
failures = []


def on_delivery(error, message):
    if error is not None:
        failures.append(str(error))
    else:
        acknowledged.append([message.key().decode(), message.value().decode(), message.partition(), message.offset()])


producer = Producer({
    'bootstrap.servers': bootstrap,
    'acks': 'all',
    'linger.ms': 5,
    'partitioner': 'murmur2_random',
    'enable.idempotence': False,
})
for i in range(count):
    key = 'key-%d' % (i % 53)
    producer.produce(topic, key=key, value='%s.%d' % (key, i), on_delivery=on_delivery)
    producer.poll(0)
remaining = producer.flush(30)

consumer = Consumer({
    'bootstrap.servers': bootstrap,
    'group.id': 'defter-test-unused',
    'enable.auto.commit': False,
    'enable.partition.eof': True,
    'auto.offset.reset': 'earliest',
})
consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
consumed = []
at_end = set()
while len(at_end) < partitions and time.monotonic() < deadline:
    message = consumer.poll(1.0)
    if message is None:
        continue
    if message.error() is not None:
        if message.error().code() == KafkaError._PARTITION_EOF:
            at_end.add(message.partition())
            continue
        failures.append(str(message.error()))
        continue
    at_end.discard(message.partition())
    consumed.append([message.key().decode(), message.value().decode(), message.partition(), message.offset()])
consumer.close()

print(json.dumps({'acknowledged': acknowledged, 'consumed': consumed, 'failures': failures, 'unflushed': remaining}))
