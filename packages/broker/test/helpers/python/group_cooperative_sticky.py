"""Two confluent-kafka (librdkafka) consumers with partition.assignment.strategy=cooperative-sticky
share a topic: A joins alone and reads the first half with synchronous commits, then B joins
(the incremental protocol rebalances twice: A gives up partitions, then B gets them), then the
second half is produced. Prints one JSON object: the final assignments, the incremental
assign/revoke events, the rebalance protocol, and every record read as [consumer, partition, value].

usage: group_cooperative_sticky.py BOOTSTRAP TOPIC PARTITIONS COUNT
"""
import json
import sys
import time

from confluent_kafka import Consumer, Producer

bootstrap, topic, partitions, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
deadline = time.monotonic() + 90
events = []
records = []


def produce(values):
    producer = Producer({'bootstrap.servers': bootstrap, 'acks': 'all', 'enable.idempotence': False})
    for i, value in values:
        producer.produce(topic, value=value, partition=i % partitions)
    if producer.flush(30) != 0:
        raise SystemExit('produce did not finish')


def consumer(name):
    def on_assign(c, assigned):
        events.append([name, 'assign', sorted(p.partition for p in assigned)])

    def on_revoke(c, revoked):
        events.append([name, 'revoke', sorted(p.partition for p in revoked)])

    c = Consumer({
        'bootstrap.servers': bootstrap,
        'group.id': 'cooperative',
        'partition.assignment.strategy': 'cooperative-sticky',
        'auto.offset.reset': 'earliest',
        'enable.auto.commit': False,
        'session.timeout.ms': 6000,
        'heartbeat.interval.ms': 300,
        'topic.metadata.refresh.interval.ms': 1000,
    })
    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    return c


def poll(name, c):
    message = c.poll(0.05)
    if message is None or message.error() is not None:
        return
    records.append([name, message.partition(), message.value().decode()])
    c.commit(message=message, asynchronous=False)


def assignment(c):
    return sorted(p.partition for p in c.assignment())


half = count // 2
values = [(i, 'v%d' % i) for i in range(count)]
produce(values[:half])
a = consumer('a')
while len(records) < half and time.monotonic() < deadline:
    poll('a', a)
b = consumer('b')
consumers = [('a', a), ('b', b)]
while time.monotonic() < deadline:
    for name, c in consumers:
        poll(name, c)
    if len(assignment(a)) + len(assignment(b)) == partitions and assignment(a) and assignment(b):
        break
produce(values[half:])
while len(records) < count and time.monotonic() < deadline:
    for name, c in consumers:
        poll(name, c)
result = {
    'assignment': {'a': assignment(a), 'b': assignment(b)},
    'protocol': a.rebalance_protocol() if hasattr(a, 'rebalance_protocol') else None,
    'events': list(events),
    'records': records,
}
for _, c in consumers:
    c.close()
print(json.dumps(result))
