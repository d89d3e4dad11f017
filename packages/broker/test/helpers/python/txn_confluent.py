"""Transactions with confluent-kafka (librdkafka): a transactional producer commits one transaction,
aborts a second and commits a third, each across every partition of the given topics; then a
plain producer appends a sentinel record to every partition, and two assign()-based consumers
(isolation.level read_committed and read_uncommitted) read every partition up to its sentinel.
Prints one JSON object: {"committed": {"topic/partition": [[offset, value], ...]}, "uncommitted":
{...}, "failures": [...], "retried": [EndTxn calls retried after a retriable error]}.

usage: txn_confluent.py BOOTSTRAP TOPIC[,TOPIC...] PARTITIONS TRANSACTIONAL_ID
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

bootstrap, topics, partitions, transactional_id = sys.argv[1], sys.argv[2].split(','), int(sys.argv[3]), sys.argv[4]
PER_PARTITION = 3
SENTINEL = 'sentinel'
failures = []
retried = []


def on_delivery(error, message):
    if error is not None:
        failures.append('delivery: %s' % error)


producer = Producer({
    'bootstrap.servers': bootstrap,
    'transactional.id': transactional_id,
    'transaction.timeout.ms': 60000,
    'linger.ms': 5,
})
producer.init_transactions(30)
for name, outcome in (('first', 'commit'), ('second', 'abort'), ('third', 'commit')):
    producer.begin_transaction()
    for i in range(PER_PARTITION):
        for topic in topics:
            for partition in range(partitions):
                value = '%s-%s-%d-%d' % (name, topic, partition, i)
                producer.produce(topic, key='k%d' % partition, value=value, partition=partition, on_delivery=on_delivery)
        producer.poll(0)
    # abort_transaction() purges what is still queued: flush first, so the aborted records are in the log.
    if producer.flush(30) != 0:
        failures.append('%s: not all delivered' % name)
    # As librdkafka documents: a retriable error (a lost EndTxn response, say) means "call it again".
    for attempt in range(10):
        try:
            if outcome == 'commit':
                producer.commit_transaction(30)
            else:
                producer.abort_transaction(30)
            break
        except KafkaException as error:
            if not error.args[0].retriable():
                raise
            retried.append('%s: %s' % (name, error.args[0].str()))

plain = Producer({'bootstrap.servers': bootstrap, 'acks': 'all', 'enable.idempotence': False})
for topic in topics:
    for partition in range(partitions):
        plain.produce(topic, value=SENTINEL, partition=partition, on_delivery=on_delivery)
if plain.flush(30) != 0:
    failures.append('sentinels not delivered')


def read_until_sentinels(isolation):
    consumer = Consumer({
        'bootstrap.servers': bootstrap,
        'group.id': 'txn-confluent-unused-%s' % isolation,
        'enable.auto.commit': False,
        'isolation.level': isolation,
        'auto.offset.reset': 'earliest',
    })
    consumer.assign([TopicPartition(topic, partition, 0) for topic in topics for partition in range(partitions)])
    read = {}
    finished = set()
    deadline = time.monotonic() + 60
    while len(finished) < len(topics) * partitions and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error() is not None:
            if message.error().code() != KafkaError._PARTITION_EOF:
                failures.append('%s consumer: %s' % (isolation, message.error()))
            continue
        key = '%s/%d' % (message.topic(), message.partition())
        if key in finished:
            continue
        value = message.value().decode()
        if value == SENTINEL:
            finished.add(key)
        else:
            read.setdefault(key, []).append([message.offset(), value])
    if len(finished) < len(topics) * partitions:
        failures.append('%s consumer reached the sentinels of %s only' % (isolation, sorted(finished)))
    consumer.close()
    return read


print(json.dumps({
    'committed': read_until_sentinels('read_committed'),
    'uncommitted': read_until_sentinels('read_uncommitted'),
    'failures': failures,
    'retried': retried,
}))
