"""Two kafka-python consumers in one group, each in its own thread (kafka-python joins inside poll(),
so one thread cannot drive two members), share a topic. Once their assignments cover every
partition exactly once, COUNT records are produced (acks=all, spread over the partitions); each
member commits synchronously after every poll. Prints one JSON object like confluent_group.py.

usage: kafka_python_group.py BOOTSTRAP TOPIC GROUP PARTITIONS COUNT
"""
import json
import sys
import threading
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

bootstrap, topic, group, partitions, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
deadline = time.monotonic() + 75
lock = threading.Lock()
assignments = {}
consumed = []
failures = []
committed = {}
stop = threading.Event()


def member(name):
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id=name,
        enable_auto_commit=False,
        auto_offset_reset='earliest',
        session_timeout_ms=6000,
        heartbeat_interval_ms=300,
        metadata_max_age_ms=1000,
    )
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            batches = consumer.poll(timeout_ms=100)
            records = [record for batch in batches.values() for record in batch]
            if records:
                with lock:
                    for record in records:
                        consumed.append([name, record.partition, record.offset, record.value.decode()])
                consumer.commit()
            with lock:
                assignments[name] = sorted(tp.partition for tp in consumer.assignment())
        with lock:
            for p in range(partitions):
                offset = consumer.committed(TopicPartition(topic, p))
                if offset is not None:
                    committed[str(p)] = offset
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

producer = KafkaProducer(bootstrap_servers=bootstrap, acks='all', linger_ms=5)
futures = [(i, producer.send(topic, value=('r-%d' % i).encode(), partition=i % partitions)) for i in range(count)]
producer.flush(30)
acknowledged = []
for i, future in futures:
    try:
        metadata = future.get(timeout=10)
        acknowledged.append([metadata.partition, metadata.offset, 'r-%d' % i])
    except Exception as error:
        failures.append('delivery: %r' % error)
producer.close()

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
