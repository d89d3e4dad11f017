"""Two confluent-kafka (librdkafka) consumers in one group, each in its own thread, share a topic.
Once their assignments cover every partition exactly once, COUNT records are produced (acks=all,
spread over the partitions); each member commits synchronously after every record. Prints one JSON
object: each member's final assignment, what was acknowledged ([partition, offset, value]), what
was consumed ([member, partition, offset, value]), the failures, and the committed offsets.

usage: confluent_group.py BOOTSTRAP TOPIC GROUP PARTITIONS COUNT STRATEGY
"""
import json
import sys
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition

bootstrap, topic, group, partitions, count, strategy = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
deadline = time.monotonic() + 75
lock = threading.Lock()
assignments = {}
consumed = []
failures = []
committed = {}
stop = threading.Event()


def member(name):
    consumer = Consumer({
        'bootstrap.servers': bootstrap,
        'group.id': group,
        'client.id': name,
        'enable.auto.commit': False,
        'auto.offset.reset': 'earliest',
        'session.timeout.ms': 6000,
        'heartbeat.interval.ms': 300,
        'partition.assignment.strategy': strategy,
        'topic.metadata.refresh.interval.ms': 1000,
    })
    consumer.subscribe([topic])
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            message = consumer.poll(0.1)
            if message is not None:
                if message.error() is not None:
                    with lock:
                        failures.append('%s: %s' % (name, message.error()))
                else:
                    with lock:
                        consumed.append([name, message.partition(), message.offset(), message.value().decode()])
                    consumer.commit(message=message, asynchronous=False)
            with lock:
                assignments[name] = sorted(tp.partition for tp in consumer.assignment())
        positions = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        with lock:
            for tp in positions:
                if tp.offset >= 0:
                    committed[str(tp.partition)] = tp.offset
    except Exception as error:  # reported, and the test asserts there are none
        with lock:
            failures.append('%s: %r' % (name, error))
    finally:
        consumer.close()


def balanced():
    with lock:
        owned = [p for name in ('m1', 'm2') for p in assignments.get(name, [])]
        return len(assignments.get('m1', [])) > 0 and len(assignments.get('m2', [])) > 0 and sorted(owned) == list(range(partitions))


threads = [threading.Thread(target=member, args=(name,)) for name in ('m1', 'm2')]
for thread in threads:
    thread.start()
while not balanced() and time.monotonic() < deadline:
    time.sleep(0.05)
if not balanced():
    failures.append('the two members never shared the partitions: %r' % assignments)

acknowledged = []


def on_delivery(error, message):
    if error is not None:
        failures.append('delivery: %s' % error)
    else:
        acknowledged.append([message.partition(), message.offset(), message.value().decode()])


producer = Producer({'bootstrap.servers': bootstrap, 'acks': 'all', 'linger.ms': 5})
for i in range(count):
    producer.produce(topic, value='r-%d' % i, partition=i % partitions, on_delivery=on_delivery)
    producer.poll(0)
producer.flush(30)

while time.monotonic() < deadline:
    with lock:
        if len(consumed) >= count:
            break
    time.sleep(0.05)
time.sleep(1.0)  # time for a duplicate to show up, if there were to be one
with lock:
    final_assignments = dict(assignments)
stop.set()
for thread in threads:
    thread.join(30)

print(json.dumps({'assignments': final_assignments, 'acknowledged': acknowledged, 'consumed': consumed, 'failures': failures, 'committed': committed}))
