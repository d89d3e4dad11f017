"""One consume-transform-produce processor with confluent-kafka (librdkafka), for a test that
SIGKILLs and restarts it: it reads INPUT in group GROUP (isolation.level=read_committed, no
automatic commits) and, for every CHUNK records polled, runs one transaction: the records
transformed to the same partition of OUTPUT, and the consumer's positions with
send_offsets_to_transaction (TxnOffsetCommit carrying the group's generation and member id),
then commit; then it pauses PAUSE_MS (its "processing time"). Prints one JSON line per event, like txn-pipeline-process.ts: {"type": "joined",
"assignment": [...]}, and {"type": "sent" | "offsets" | "committed", "records": n} after each step. Any error ends the process (code 1).

usage: txn_pipeline.py BOOTSTRAP GROUP INPUT OUTPUT TRANSACTIONAL_ID CHUNK SESSION_MS PAUSE_MS
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer

bootstrap, group, input_topic, output_topic, transactional_id = sys.argv[1:6]
chunk_size, session_ms, pause_ms = int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8])


def transform(value):
    """The same function as transformValue in txn-pipeline.ts."""
    return '%s.%d' % (value.upper(), len(value))


def emit(event):
    sys.stdout.write(json.dumps(event) + '\n')
    sys.stdout.flush()


def fail(error):
    sys.stderr.write('pipeline failed: %s\n' % error)
    sys.stderr.flush()
    sys.exit(1)


producer = Producer({
    'bootstrap.servers': bootstrap,
    'transactional.id': transactional_id,
    'transaction.timeout.ms': 30000,
    'linger.ms': 2,
    'error_cb': lambda error: fail(error) if error.fatal() else None,
})
# Before the consumer reads its committed offsets: fence a predecessor and let its last transaction finish.
producer.init_transactions(30)


def on_assign(consumer, partitions):
    emit({'type': 'joined', 'assignment': sorted(p.partition for p in partitions)})


consumer = Consumer({
    'bootstrap.servers': bootstrap,
    'group.id': group,
    'isolation.level': 'read_committed',
    'enable.auto.commit': False,
    'auto.offset.reset': 'earliest',
    'session.timeout.ms': session_ms,
    'heartbeat.interval.ms': max(100, session_ms // 8),
    'fetch.wait.max.ms': 100,
})
consumer.subscribe([input_topic], on_assign=on_assign)

try:
    while True:
        messages = consumer.consume(num_messages=chunk_size, timeout=0.5)
        records = []
        for message in messages:
            if message.error() is not None:
                fail(message.error())
            records.append(message)
        if not records:
            continue
        producer.begin_transaction()
        for message in records:
            producer.produce(output_topic, key=message.key(), value=transform(message.value().decode()), partition=message.partition())
        emit({'type': 'sent', 'records': len(records)})
        # Positions not yet known (no fetch yet) are negative: only real ones are committed.
        positions = [p for p in consumer.position(consumer.assignment()) if p.offset >= 0]
        producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 30)
        emit({'type': 'offsets', 'records': len(records)})
        producer.commit_transaction(30)
        emit({'type': 'committed', 'records': len(records)})
        time.sleep(pause_ms / 1000.0)
except KafkaException as error:
    fail(error)
