#!/usr/bin/env node
/*
 * Local stand-in for Azure Service Bus: an in-memory AMQP 1.0 broker on rhea that speaks the
 * subset of the Service Bus protocol the azure-servicebus Python SDK (pure-Python `_pyamqp`
 * transport, sync and aio) uses against queues. Never deployed; nothing is persisted.
 *
 *   node local/servicebus/broker.js --port 0 [--host 127.0.0.1] [--queues <json file>]
 *                                   [--clock-file <path>] [--no-auto-create]
 *
 * Prints `READY <port>` once it listens.
 *
 * What it implements (Service Bus semantics, as seen through the SDK):
 *  - SASL ANONYMOUS and PLAIN (any credentials), plain TCP. `$cbs` put-token answers 202 for
 *    any SharedAccessSignature (or jwt) token, 404 when the audience names a missing queue.
 *  - Queues (auto-created on first attach unless --no-auto-create) and their dead-letter
 *    sub-queue `<queue>/$DeadLetterQueue`.
 *  - Send: single messages and SDK batches (message format 0x80013700, one data section per
 *    message), x-opt-scheduled-enqueue-time, duplicate detection by message-id.
 *  - Receive in peek-lock (rcv-settle-mode second) and receive-and-delete (pre-settled) modes,
 *    credit-based. The delivery tag is the lock token (UUID, little-endian "bytes_le" layout as
 *    the SDK reads it), also sent as the x-opt-lock-token delivery annotation. Message
 *    annotations set like the service: x-opt-enqueued-time, x-opt-sequence-number,
 *    x-opt-locked-until, x-opt-message-state (and x-opt-deadletter-source in the DLQ).
 *  - Header delivery-count is the number of earlier failed deliveries (0 on the first one),
 *    which is what the service puts on the wire; the Python SDK exposes it unchanged.
 *  - Settlement on the link: accepted = complete, released = unlock (no count), modified
 *    delivery-failed = abandon (count+1), modified undeliverable-here = defer, rejected =
 *    dead-letter with DeadLetterReason / DeadLetterErrorDescription from the error info. The
 *    applied outcome is echoed on a settled disposition (the SDK awaits it), one frame per
 *    settlement, written at once, as Microsoft's AMQP stack answers a settlement not marked
 *    batchable (never merged into a first..last range); a settlement on a lost lock is
 *    answered with `rejected` + com.microsoft:message-lock-lost.
 *  - Past maxDeliveryCount (on abandon or lock expiry) the message moves to the dead-letter
 *    queue with reason MaxDeliveryCountExceeded.
 *  - Lock expiry: an unsettled message becomes available again with delivery-count+1.
 *    When a receiving link or connection goes away its locks stay until they expire, as on the
 *    service (messages the link never actually transferred are released at once).
 *  - $management: renew-lock, update-disposition, schedule-message, cancel-scheduled-message,
 *    peek-message, receive-by-sequence-number (deferred messages).
 *  - Dev clock: with --clock-file, "now" is Date.now() + offsetMs read from that JSON file.
 *
 * Not implemented: topics/subscriptions, sessions, message TTL expiry, transactions, entity
 * management over HTTP, TLS, authorization (every token is accepted).
 */
'use strict';

const fs = require('fs');
const crypto = require('crypto');
const rhea = require('rhea');
const types = require('rhea/lib/types.js');
const amqpMessage = require('rhea/lib/message.js');
const frames = require('rhea/lib/frames.js');

// ---------------------------------------------------------------------------------------------
// Command line

function usage(problem) {
    process.stderr.write(`broker.js: ${problem}\n` +
        'usage: broker.js --port <n> [--host <addr>] [--queues <json>] [--clock-file <path>] [--no-auto-create]\n');
    process.exit(2);
}

function parseArgs(argv) {
    const opts = { port: 0, host: '127.0.0.1', queuesFile: null, clockFile: null, autoCreate: true };
    for (let i = 0; i < argv.length; i++) {
        const arg = argv[i];
        const value = () => {
            if (i + 1 >= argv.length) usage(`${arg} needs a value`);
            return argv[++i];
        };
        switch (arg) {
        case '--port': opts.port = Number(value()); break;
        case '--host': opts.host = value(); break;
        case '--queues': opts.queuesFile = value(); break;
        case '--clock-file': opts.clockFile = value(); break;
        case '--no-auto-create': opts.autoCreate = false; break;
        default: usage(`unknown argument ${arg}`);
        }
    }
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) usage('bad --port');
    return opts;
}

const OPTIONS = parseArgs(process.argv.slice(2));

function log(line) {
    process.stdout.write(`${new Date().toISOString()} servicebus ${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// Dev clock

const clock = { offsetMs: 0, stamp: null };

function now() {
    return Date.now() + clock.offsetMs;
}

function readClockFile() {
    if (!OPTIONS.clockFile) return false;
    let stat;
    try {
        stat = fs.statSync(OPTIONS.clockFile);
    } catch (err) {
        if (clock.stamp !== null || clock.offsetMs !== 0) {
            clock.stamp = null;
            clock.offsetMs = 0;
            log('clock offset 0 ms (clock file missing)');
            return true;
        }
        return false;
    }
    const stamp = `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
    if (stamp === clock.stamp) return false;
    let offset;
    try {
        const parsed = JSON.parse(fs.readFileSync(OPTIONS.clockFile, 'utf8'));
        offset = parsed && parsed.offsetMs !== undefined ? Number(parsed.offsetMs) : 0;
        if (!Number.isFinite(offset)) throw new Error('offsetMs is not a number');
    } catch (err) {
        return false; // probably caught mid-write: try again on the next poll
    }
    clock.stamp = stamp;
    if (offset === clock.offsetMs) return false;
    clock.offsetMs = Math.trunc(offset);
    log(`clock offset ${clock.offsetMs} ms`);
    return true;
}

// ---------------------------------------------------------------------------------------------
// AMQP message sections, kept as raw bytes except the ones the broker rewrites

const SECTION = {
    HEADER: 0x70, DELIVERY_ANNOTATIONS: 0x71, MESSAGE_ANNOTATIONS: 0x72, PROPERTIES: 0x73,
    APPLICATION_PROPERTIES: 0x74, DATA: 0x75, SEQUENCE: 0x76, VALUE: 0x77, FOOTER: 0x78,
};
const SYMBOLIC_SECTION = {
    'amqp:header:list': 0x70, 'amqp:delivery-annotations:map': 0x71,
    'amqp:message-annotations:map': 0x72, 'amqp:properties:list': 0x73,
    'amqp:application-properties:map': 0x74, 'amqp:data:binary': 0x75,
    'amqp:amqp-sequence:list': 0x76, 'amqp:value:*': 0x77, 'amqp:footer:map': 0x78,
};
const BATCH_FORMAT = 0x80013700;
const MAX_MESSAGE_SIZE = 1024 * 1024;

const ANN = {
    ENQUEUED_TIME: 'x-opt-enqueued-time',
    SEQUENCE_NUMBER: 'x-opt-sequence-number',
    LOCKED_UNTIL: 'x-opt-locked-until',
    LOCK_TOKEN: 'x-opt-lock-token',
    SCHEDULED: 'x-opt-scheduled-enqueue-time',
    MESSAGE_STATE: 'x-opt-message-state',
    DEADLETTER_SOURCE: 'x-opt-deadletter-source',
};
const BROKER_ANNOTATIONS = new Set([ANN.ENQUEUED_TIME, ANN.SEQUENCE_NUMBER, ANN.LOCKED_UNTIL,
    ANN.LOCK_TOKEN, ANN.MESSAGE_STATE]);
const MESSAGE_STATE = { active: 0, deferred: 1, scheduled: 2 };

// rhea decodes format-0 messages itself; keep the bytes it decoded from so messages can be
// stored and forwarded without losing AMQP types.
const originalDecode = amqpMessage.decode;
amqpMessage.decode = function (buffer) {
    let decoded;
    try {
        decoded = originalDecode(buffer);
    } catch (err) {
        decoded = {};
    }
    Object.defineProperty(decoded, 'rawBytes', { value: Buffer.from(buffer), enumerable: false });
    return decoded;
};

function isTyped(value) {
    return value !== null && typeof value === 'object' && value.type !== undefined && 'value' in value;
}

function sectionCode(section) {
    const descriptor = section && section.descriptor;
    if (!descriptor) return null;
    const value = isTyped(descriptor) ? descriptor.value : descriptor;
    if (typeof value === 'number') return value;
    if (typeof value === 'string') return SYMBOLIC_SECTION[value] === undefined ? null : SYMBOLIC_SECTION[value];
    return null;
}

function listItems(typed) {
    return typed && Array.isArray(typed.value) ? typed.value : [];
}

function mapPairs(typed) {
    const items = listItems(typed);
    const pairs = [];
    for (let i = 0; i + 1 < items.length; i += 2) pairs.push([items[i], items[i + 1]]);
    return pairs;
}

function keyName(typed) {
    if (!isTyped(typed)) return String(typed);
    return Buffer.isBuffer(typed.value) ? typed.value.toString('hex') : String(typed.value);
}

function plainValue(typed) {
    if (!isTyped(typed)) return typed;
    const v = typed.value;
    return v instanceof Date ? v.getTime() : v;
}

/** Split an encoded AMQP message into its sections. */
function parseMessage(buffer) {
    const reader = new types.Reader(buffer);
    const parsed = { header: [], annotations: [], propertiesRaw: null, properties: [],
        applicationProperties: [], bodyRaw: [], footerRaw: null };
    while (reader.remaining() > 0) {
        const start = reader.position;
        const section = reader.read();
        const raw = buffer.subarray(start, reader.position);
        switch (sectionCode(section)) {
        case SECTION.HEADER: parsed.header = listItems(section); break;
        case SECTION.DELIVERY_ANNOTATIONS: break; // hop-by-hop: not stored
        case SECTION.MESSAGE_ANNOTATIONS: parsed.annotations = mapPairs(section); break;
        case SECTION.PROPERTIES: parsed.propertiesRaw = raw; parsed.properties = listItems(section); break;
        case SECTION.APPLICATION_PROPERTIES: parsed.applicationProperties = mapPairs(section); break;
        case SECTION.DATA: case SECTION.SEQUENCE: case SECTION.VALUE: parsed.bodyRaw.push(raw); break;
        case SECTION.FOOTER: parsed.footerRaw = raw; break;
        default: throw new Error('not an AMQP message: unknown section');
        }
    }
    return parsed;
}

/** The individual messages of an SDK batch: one encoded message per data section. */
function unpackBatch(buffer) {
    const reader = new types.Reader(buffer);
    const messages = [];
    while (reader.remaining() > 0) {
        const section = reader.read();
        if (sectionCode(section) === SECTION.DATA && Buffer.isBuffer(section.value)) {
            messages.push(Buffer.from(section.value));
        }
    }
    return messages;
}

function annotation(parsed, name) {
    for (const [k, v] of parsed.annotations) {
        if (keyName(k) === name) return plainValue(v);
    }
    return undefined;
}

function setPair(pairs, name, typedValue, keyWrapper) {
    const index = pairs.findIndex(([k]) => keyName(k) === name);
    if (typedValue === null) {
        if (index >= 0) pairs.splice(index, 1);
        return;
    }
    if (index >= 0) pairs[index] = [pairs[index][0], typedValue];
    else pairs.push([keyWrapper(name), typedValue]);
}

function messageIdKey(parsed) {
    const id = parsed.properties[0];
    if (!isTyped(id) || id.value === null || id.value === undefined) return null;
    const value = Buffer.isBuffer(id.value) ? id.value.toString('hex') : String(id.value);
    return `${id.type.name}:${value}`;
}

function described(code, typed) {
    return types.described(types.wrap_ulong(code), typed);
}

function typedMap(pairs) {
    const items = [];
    for (const [k, v] of pairs) {
        items.push(k);
        items.push(v === undefined ? types.Null() : v);
    }
    return types.Map32(items);
}

function toTimestamp(value) {
    if (value instanceof Date) return value.getTime();
    if (typeof value === 'number') return value;
    return null;
}

// ---------------------------------------------------------------------------------------------
// Lock tokens: the SDK reads the delivery tag as uuid.UUID(bytes_le=tag) and sends lock tokens
// back as AMQP uuids (RFC 4122 byte order).

function newLockToken() {
    const token = crypto.randomBytes(16);
    token[6] = (token[6] & 0x0f) | 0x40;
    token[8] = (token[8] & 0x3f) | 0x80;
    return token;
}

function bytesLe(token) {
    return Buffer.from([token[3], token[2], token[1], token[0], token[5], token[4], token[7], token[6],
        ...token.subarray(8)]);
}

function tokenKey(value) {
    if (Buffer.isBuffer(value)) return value.toString('hex');
    if (isTyped(value)) return tokenKey(value.value);
    if (typeof value === 'string') return value.replace(/[-{}]/g, '').toLowerCase();
    return String(value);
}

// ---------------------------------------------------------------------------------------------
// Queues

const DEFAULT_QUEUE = { maxDeliveryCount: 10, lockDurationSeconds: 60, duplicateDetectionWindowSeconds: 600 };

class Entity {
    constructor(queue, deadLetter) {
        this.queue = queue;
        this.deadLetter = deadLetter;
        this.messages = new Map(); // sequence number -> message, in arrival order
        this.locks = new Map(); // lock token hex -> message
        this.consumers = [];
        this.nextConsumer = 0;
    }

    get path() {
        return this.deadLetter ? `${this.queue.name}/$DeadLetterQueue` : this.queue.name;
    }

    nextAvailable() {
        for (const message of this.messages.values()) {
            if (message.state === 'available') return message;
        }
        return null;
    }

    remove(message) {
        this.messages.delete(message.seq);
        if (message.lockToken) this.locks.delete(message.lockToken);
        message.state = 'gone';
    }
}

class Queue {
    constructor(config) {
        const merged = { ...DEFAULT_QUEUE, ...config };
        this.name = String(merged.name);
        this.maxDeliveryCount = Number(merged.maxDeliveryCount);
        this.lockMs = Math.round(Number(merged.lockDurationSeconds) * 1000);
        this.duplicateWindowMs = Math.round(Number(merged.duplicateDetectionWindowSeconds) * 1000);
        this.nextSeq = 1;
        this.seen = new Map(); // message-id key -> broker time it stops counting as duplicate
        this.active = new Entity(this, false);
        this.dlq = new Entity(this, true);
    }
}

const queues = new Map(); // lower-cased name -> Queue

function addQueue(config) {
    if (!config || typeof config.name !== 'string' || !config.name) throw new Error('queue needs a name');
    const queue = new Queue(config);
    queues.set(queue.name.toLowerCase(), queue);
    return queue;
}

if (OPTIONS.queuesFile) {
    const configured = JSON.parse(fs.readFileSync(OPTIONS.queuesFile, 'utf8'));
    if (!Array.isArray(configured)) usage('--queues must hold a JSON list');
    configured.forEach(addQueue);
}

function lookupQueue(name) {
    const existing = queues.get(name.toLowerCase());
    if (existing) return existing;
    if (!OPTIONS.autoCreate) return null;
    log(`queue ${name} auto-created`);
    return addQueue({ name });
}

/**
 * Classify a link address: `$cbs`, `<queue>[/$DeadLetterQueue]/$management` or
 * `[amqps://host[:port]/]<queue>[/$DeadLetterQueue]`.
 */
function parseAddress(address) {
    if (typeof address !== 'string' || !address) return { kind: 'invalid' };
    let path = address.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '').replace(/^\/+|\/+$/g, '');
    if (path.toLowerCase() === '$cbs') return { kind: 'cbs', node: '$cbs' };
    const node = path.toLowerCase();
    let management = false;
    let deadLetter = false;
    if (/\/\$management$/i.test(path)) {
        management = true;
        path = path.slice(0, -'/$management'.length);
    }
    if (/\/\$deadletterqueue$/i.test(path)) {
        deadLetter = true;
        path = path.slice(0, -'/$DeadLetterQueue'.length);
    }
    if (!path || path.includes('$')) return { kind: 'invalid' };
    if (/\/subscriptions\//i.test(path)) return { kind: 'unsupported' };
    return { kind: management ? 'management' : 'entity', node, name: path, deadLetter };
}

// ---------------------------------------------------------------------------------------------
// Message store operations

function enqueue(queue, buffer, { allowDuplicate = false } = {}) {
    const parsed = parseMessage(buffer);
    const time = now();
    const id = messageIdKey(parsed);
    if (!allowDuplicate && id !== null && queue.duplicateWindowMs > 0) {
        const until = queue.seen.get(id);
        if (until !== undefined && until > time) return null; // accepted, then silently dropped
        queue.seen.set(id, time + queue.duplicateWindowMs);
    }
    const scheduledAt = toTimestamp(annotation(parsed, ANN.SCHEDULED));
    const scheduled = scheduledAt !== null && scheduledAt > time;
    const message = {
        seq: queue.nextSeq++,
        entity: queue.active,
        parsed,
        enqueuedAt: scheduled ? scheduledAt : time,
        scheduledAt: scheduled ? scheduledAt : null,
        state: scheduled ? 'scheduled' : 'available',
        deferred: false,
        deliveryCount: 0,
        lockToken: null,
        lockedUntil: null,
        holder: null,
    };
    queue.active.messages.set(message.seq, message);
    return message;
}

/** Encode a stored message for the wire with the broker-owned annotations filled in. */
function encodeMessage(message, { locked }) {
    const parsed = message.parsed;
    const writer = new types.Writer();
    const header = parsed.header;
    writer.write(described(SECTION.HEADER, types.wrap_list([
        header[0] || null, header[1] || null, header[2] || null,
        types.wrap_boolean(message.deliveryCount === 0), types.wrap_uint(message.deliveryCount),
    ])));
    const symbol = types.wrap_symbol;
    if (locked) { // the service hands the lock token over in the delivery annotations
        writer.write(described(SECTION.DELIVERY_ANNOTATIONS, typedMap([
            [symbol(ANN.LOCK_TOKEN), types.wrap_uuid(Buffer.from(message.lockToken, 'hex'))]])));
    }
    const annotations = parsed.annotations.filter(([k]) => !BROKER_ANNOTATIONS.has(keyName(k)));
    annotations.push([symbol(ANN.ENQUEUED_TIME), types.wrap_timestamp(message.enqueuedAt)]);
    annotations.push([symbol(ANN.SEQUENCE_NUMBER), types.wrap_long(message.seq)]);
    const state = message.state === 'scheduled' ? MESSAGE_STATE.scheduled
        : message.deferred ? MESSAGE_STATE.deferred : MESSAGE_STATE.active;
    annotations.push([symbol(ANN.MESSAGE_STATE), types.wrap_int(state)]);
    if (locked) {
        annotations.push([symbol(ANN.LOCKED_UNTIL), types.wrap_timestamp(message.lockedUntil)]);
    }
    writer.write(described(SECTION.MESSAGE_ANNOTATIONS, typedMap(annotations)));
    if (parsed.propertiesRaw) writer.write_bytes(parsed.propertiesRaw);
    if (parsed.applicationProperties.length) {
        writer.write(described(SECTION.APPLICATION_PROPERTIES, typedMap(parsed.applicationProperties)));
    }
    for (const raw of parsed.bodyRaw) writer.write_bytes(raw);
    if (parsed.footerRaw) writer.write_bytes(parsed.footerRaw);
    return Buffer.from(writer.toBuffer());
}

function lock(message) {
    const token = newLockToken();
    message.state = 'locked';
    message.lockToken = token.toString('hex');
    message.lockedUntil = now() + message.entity.queue.lockMs;
    message.entity.locks.set(message.lockToken, message);
    return token;
}

// How long (wall-clock ms) a transfer whose lock ended elsewhere (expiry, management
// settlement) stays open on its link, so that a late disposition still gets a lock-lost answer.
const STALE_DELIVERY_GRACE_MS = 120000;

function unlock(message) {
    if (message.lockToken) message.entity.locks.delete(message.lockToken);
    const holder = message.holder;
    if (holder) {
        holder.consumer.locked.delete(message);
        const delivery = holder.delivery;
        if (delivery && delivery.sbLock && !delivery.sbLock.handled) {
            holder.consumer.stale.push({ delivery, since: Date.now() });
        }
    }
    message.lockToken = null;
    message.lockedUntil = null;
    message.holder = null;
}

/**
 * Forget transfers the receiver never settled once their grace period is over. rhea keeps a
 * session's deliveries in order until each is settled at both ends, so one forgotten delivery
 * would otherwise pin every later one in memory.
 */
function retireStaleDeliveries(consumer) {
    const limit = Date.now() - STALE_DELIVERY_GRACE_MS;
    let retired = false;
    while (consumer.stale.length && consumer.stale[0].since <= limit) {
        const { delivery } = consumer.stale.shift();
        if (!delivery.sbLock.handled) {
            delivery.sbLock.handled = true;
            delivery.settled = true;
            delivery.remote_settled = true;
            retired = true;
        }
    }
    if (retired && consumer.link.connection) consumer.link.connection._register();
}

function makeAvailable(message) {
    message.state = message.deferred ? 'deferred' : 'available';
}

function deadLetter(message, reason, description) {
    const source = message.entity;
    const queue = source.queue;
    unlock(message);
    if (source.deadLetter) { // dead-lettering from the dead-letter queue keeps it there
        makeAvailable(message);
        return;
    }
    source.messages.delete(message.seq);
    const parsed = message.parsed;
    const string = types.wrap_string;
    if (reason !== undefined && reason !== null) {
        setPair(parsed.applicationProperties, 'DeadLetterReason', string(String(reason)), string);
    }
    if (description !== undefined && description !== null) {
        setPair(parsed.applicationProperties, 'DeadLetterErrorDescription', string(String(description)), string);
    }
    setPair(parsed.annotations, ANN.DEADLETTER_SOURCE, string(queue.name), types.wrap_symbol);
    message.entity = queue.dlq;
    message.deferred = false;
    message.state = 'available';
    queue.dlq.messages.set(message.seq, message);
    schedule(queue.dlq);
}

/** A failed delivery: lock expiry or abandon. Counts it and dead-letters past the maximum. */
function failDelivery(message) {
    unlock(message);
    message.deliveryCount += 1;
    const queue = message.entity.queue;
    if (!message.entity.deadLetter && message.deliveryCount >= queue.maxDeliveryCount) {
        deadLetter(message, 'MaxDeliveryCountExceeded',
            `Message could not be consumed after ${queue.maxDeliveryCount} delivery attempts.`);
    } else {
        makeAvailable(message);
    }
}

function mergeProperties(pairs, properties, keyWrapper) {
    if (!properties || typeof properties !== 'object') return;
    for (const [name, value] of Object.entries(properties)) {
        setPair(pairs, name, types.wrap(value), keyWrapper);
    }
}

/**
 * Apply a settlement to the message locked under `token`. Returns false when the lock is
 * unknown or expired (the caller answers message-lock-lost).
 */
function settle(entity, token, action) {
    const message = entity.locks.get(token);
    if (!message || message.state !== 'locked' || message.lockToken !== token) return false;
    if (message.lockedUntil <= now()) {
        failDelivery(message);
        schedule(entity);
        return false;
    }
    switch (action.op) {
    case 'complete':
        unlock(message);
        entity.remove(message);
        break;
    case 'release':
        unlock(message);
        makeAvailable(message);
        break;
    case 'abandon':
        mergeProperties(message.parsed.annotations, action.annotations, types.wrap_symbol);
        mergeProperties(message.parsed.applicationProperties, action.properties, types.wrap_string);
        failDelivery(message);
        break;
    case 'defer':
        mergeProperties(message.parsed.annotations, action.annotations, types.wrap_symbol);
        mergeProperties(message.parsed.applicationProperties, action.properties, types.wrap_string);
        unlock(message);
        message.deferred = true;
        message.state = 'deferred';
        break;
    case 'deadletter':
        mergeProperties(message.parsed.applicationProperties, action.properties, types.wrap_string);
        deadLetter(message, action.reason, action.description);
        break;
    default:
        throw new Error(`unknown settlement ${action.op}`);
    }
    schedule(entity);
    return true;
}

// ---------------------------------------------------------------------------------------------
// Delivering to receivers

const pendingDispatch = new Set();

/** Deliver to consumers of `entity` on the next tick (coalesced). */
function schedule(entity) {
    if (pendingDispatch.size === 0) setImmediate(runDispatch);
    pendingDispatch.add(entity);
}

function runDispatch() {
    const entities = [...pendingDispatch];
    pendingDispatch.clear();
    entities.forEach(dispatch);
}

function creditLeft(consumer) {
    const link = consumer.link;
    if (!link.is_open() || link.session.outgoing.available() <= 0) return 0;
    // rhea only counts a delivery against the credit once it writes it out (next tick).
    return link.credit - (consumer.handed - link.delivery_count);
}

function dispatch(entity) {
    const consumers = entity.consumers;
    while (consumers.length) {
        let target = null;
        for (let i = 0; i < consumers.length; i++) {
            const index = (entity.nextConsumer + i) % consumers.length;
            if (creditLeft(consumers[index]) > 0) {
                target = consumers[index];
                entity.nextConsumer = (index + 1) % consumers.length;
                break;
            }
        }
        if (!target) return;
        const message = entity.nextAvailable();
        if (!message) return;
        deliver(target, message);
    }
}

function deliver(consumer, message) {
    const link = consumer.link;
    if (consumer.peekLock) {
        const token = lock(message);
        const delivery = link.send(encodeMessage(message, { locked: true }), bytesLe(token), 0);
        delivery.sbLock = { entity: message.entity, token: message.lockToken, handled: false };
        message.holder = { consumer, delivery };
        consumer.locked.add(message);
    } else {
        const payload = encodeMessage(message, { locked: false });
        message.entity.remove(message);
        const delivery = link.send(payload, newLockToken(), 0);
        delivery.settled = true;
    }
    consumer.handed += 1;
}

function addConsumer(link, entity) {
    const consumer = {
        link,
        entity,
        peekLock: link.remote.attach.snd_settle_mode !== 1,
        handed: 0,
        locked: new Set(),
        stale: [],
    };
    link.sbConsumer = consumer;
    entity.consumers.push(consumer);
    return consumer;
}

function removeConsumer(consumer) {
    const entity = consumer.entity;
    const index = entity.consumers.indexOf(consumer);
    if (index < 0) return;
    entity.consumers.splice(index, 1);
    if (entity.nextConsumer >= entity.consumers.length) entity.nextConsumer = 0;
    // Locks the receiver holds stay until they expire, as on the service, except for messages
    // that were assigned to the link but never written to the wire.
    const outgoing = consumer.link.session.outgoing;
    for (const message of [...consumer.locked]) {
        const delivery = message.holder && message.holder.delivery;
        if (message.state === 'locked' && delivery && delivery.id >= outgoing.next_pending_delivery) {
            unlock(message);
            makeAvailable(message);
        }
    }
    schedule(entity);
}

/** Answer a drain: consume the credit left (advancing delivery-count) and send a flow back. */
function finishDrain(consumer) {
    const link = consumer.link;
    if (!link.is_open() || !link._draining) return;
    if (link.credit > 0 && consumer.handed === link.delivery_count) {
        link.delivery_count += link.credit;
        consumer.handed += link.credit;
        link.credit = 0;
    }
    link.issue_flow = true;
    link.connection._register();
}

// ---------------------------------------------------------------------------------------------
// Settlement arriving on receive links

const LOCK_LOST = {
    condition: 'com.microsoft:message-lock-lost',
    description: 'The lock supplied is invalid. Either the lock expired, or the message has already been ' +
        'removed from the queue.',
};

function errorInfo(error) {
    const info = error && error.info;
    if (!info) return {};
    return isTyped(info) ? types.unwrap(info) : info;
}

function onOutcome(context, kind) {
    const delivery = context.delivery;
    const sbLock = delivery && delivery.sbLock;
    if (!sbLock || sbLock.handled) return;
    sbLock.handled = true;
    const state = delivery.remote_state || {};
    let action;
    let echo;
    switch (kind) {
    case 'accepted':
        action = { op: 'complete' };
        echo = amqpMessage.accepted().described();
        break;
    case 'released':
        action = { op: 'release' };
        echo = amqpMessage.released().described();
        break;
    case 'rejected': {
        const info = errorInfo(state.error);
        action = {
            op: 'deadletter',
            reason: info.DeadLetterReason,
            description: info.DeadLetterErrorDescription !== undefined
                ? info.DeadLetterErrorDescription : state.error && state.error.description,
        };
        echo = amqpMessage.rejected().described();
        break;
    }
    case 'modified': {
        const annotations = state.message_annotations;
        if (state.undeliverable_here) action = { op: 'defer', annotations };
        else if (state.delivery_failed) action = { op: 'abandon', annotations };
        else action = { op: 'release' };
        echo = amqpMessage.modified({
            delivery_failed: Boolean(state.delivery_failed),
            undeliverable_here: Boolean(state.undeliverable_here),
        }).described();
        break;
    }
    default:
        return;
    }
    const applied = settle(sbLock.entity, sbLock.token, action);
    if (!delivery.remote_settled) {
        settleAlone(delivery, applied ? echo : amqpMessage.rejected({ error: LOCK_LOST }).described());
        // The receiver forgets the delivery once it has this settled disposition.
        delivery.remote_settled = true;
    }
}

/**
 * Settle one delivery (a message the broker sent, or one it received) with its outcome in a
 * disposition frame of its own, written now, as Microsoft's AMQP stack answers a settlement or
 * a transfer not marked batchable (Azure/azure-amqp, src/AmqpSession.cs,
 * SessionChannel.DisposeDelivery). rhea's `delivery.update` would queue it and merge what
 * arrived in one read into one first..last range. The Python SDK awaits each outcome by
 * reading frames, each waiting call reading for itself and giving up after its socket timeout
 * (0.2 s): one ranged frame for sixteen concurrent completions left most of them waiting out
 * that timeout (the dev host completed ~45 messages a second).
 */
function settleAlone(delivery, state) {
    delivery.settled = true;
    delivery.state = state;
    if (!delivery.remote_settled) {
        delivery.link.session.output(frames.disposition({
            role: delivery.link.is_receiver(),
            first: delivery.id,
            last: delivery.id,
            settled: true,
            state,
        }));
    }
    delivery.link.connection._register(); // rhea then forgets what both ends settled
}

// ---------------------------------------------------------------------------------------------
// Request/response nodes: $cbs and <entity>/$management

function findReplyLink(connection, node, replyTo) {
    let fallback = null;
    let found = null;
    connection.each_sender((link) => {
        if (found || link.sbReplyNode !== node || !link.is_open()) return;
        const target = link.remote.attach && link.remote.attach.target;
        if (!replyTo || (target && target.address === replyTo)) found = link;
        else if (!fallback) fallback = link;
    });
    return found || fallback;
}

function reply(context, node, applicationProperties, body) {
    const request = context.message;
    const link = findReplyLink(context.connection, node, request.reply_to);
    if (!link) {
        log(`no reply link for ${node}; response dropped`);
        return;
    }
    const response = { application_properties: applicationProperties };
    if (request.message_id !== undefined && request.message_id !== null) {
        response.correlation_id = request.message_id;
    }
    if (body !== undefined) response.body = body;
    const delivery = link.send(response);
    delivery.settled = true;
}

function onCbsRequest(context) {
    acceptIncoming(context.delivery);
    const props = context.message.application_properties || {};
    if (props.operation !== 'put-token') {
        reply(context, '$cbs', { 'status-code': 400, 'status-description': `Unknown operation ${props.operation}` });
        return;
    }
    const token = typeof context.message.body === 'string' ? context.message.body : '';
    if (!token.startsWith('SharedAccessSignature ') && props.type !== 'jwt') {
        reply(context, '$cbs', { 'status-code': 401, 'status-description': 'Not a SharedAccessSignature token.' });
        return;
    }
    // Like the service, refuse a token for an entity that does not exist (the SDK reports
    // "CBS Token authentication failed. Status code: 404").
    const audience = parseAddress(typeof props.name === 'string' ? props.name : '');
    if ((audience.kind === 'entity' || audience.kind === 'management') && !lookupQueue(audience.name)) {
        reply(context, '$cbs', { 'status-code': 404,
            'status-description': `The messaging entity '${props.name}' could not be found.` });
        return;
    }
    reply(context, '$cbs', { 'status-code': 202, 'status-description': 'Accepted' });
}

class ManagementError extends Error {
    constructor(status, condition, description) {
        super(description);
        this.status = status;
        this.condition = condition;
    }
}

function list(value) {
    if (value === undefined || value === null) return [];
    if (isTyped(value)) return list(types.unwrap(value));
    return Array.isArray(value) ? value : [value];
}

function toNumber(value) {
    if (isTyped(value)) return toNumber(value.value);
    if (Buffer.isBuffer(value)) return Number(value.readBigInt64BE(0));
    return Number(value);
}

function lockedMessage(entity, token) {
    const key = tokenKey(token);
    const queue = entity.queue;
    const message = entity.locks.get(key) || queue.active.locks.get(key) || queue.dlq.locks.get(key);
    if (!message || message.state !== 'locked') {
        throw new ManagementError(410, LOCK_LOST.condition, LOCK_LOST.description);
    }
    if (message.lockedUntil <= now()) {
        failDelivery(message);
        schedule(message.entity);
        throw new ManagementError(410, LOCK_LOST.condition, LOCK_LOST.description);
    }
    return message;
}

const MANAGEMENT_OPERATIONS = {
    'com.microsoft:renew-lock'(entity, body) {
        const messages = list(body['lock-tokens']).map((token) => lockedMessage(entity, token));
        const expirations = messages.map((message) => {
            message.lockedUntil = now() + message.entity.queue.lockMs;
            return message.lockedUntil;
        });
        return { status: 200, body: types.wrap_map({ expirations: types.wrap_array(expirations, 0x83) }) };
    },

    'com.microsoft:update-disposition'(entity, body) {
        const status = String(body['disposition-status'] || '');
        const ops = { completed: 'complete', abandoned: 'abandon', suspended: 'deadletter', defered: 'defer', deferred: 'defer' };
        const op = ops[status.toLowerCase()];
        if (!op) throw new ManagementError(400, 'com.microsoft:argument-error', `Unknown disposition-status ${status}`);
        const messages = list(body['lock-tokens']).map((token) => lockedMessage(entity, token));
        for (const message of messages) {
            settle(message.entity, message.lockToken, {
                op,
                reason: body['deadletter-reason'],
                description: body['deadletter-description'],
                properties: body['properties-to-modify'],
            });
        }
        return { status: 200, body: types.wrap_map({}) };
    },

    'com.microsoft:schedule-message'(entity, body) {
        if (entity.deadLetter) throw new ManagementError(400, 'amqp:not-allowed', 'Cannot schedule to a dead-letter queue.');
        const sequenceNumbers = [];
        for (const item of list(body.messages)) {
            const encoded = item && item.message;
            if (!Buffer.isBuffer(encoded)) throw new ManagementError(400, 'com.microsoft:argument-error', 'message must be binary');
            const message = enqueue(entity.queue, Buffer.from(encoded), { allowDuplicate: true });
            sequenceNumbers.push(message.seq);
        }
        schedule(entity);
        return { status: 200, body: types.wrap_map({ 'sequence-numbers': types.wrap_array(sequenceNumbers, 0x81) }) };
    },

    'com.microsoft:cancel-scheduled-message'(entity, body) {
        for (const seq of list(body['sequence-numbers']).map(toNumber)) {
            const message = entity.queue.active.messages.get(seq);
            if (message && message.state === 'scheduled') entity.queue.active.remove(message);
        }
        return { status: 200, body: types.wrap_map({}) };
    },

    'com.microsoft:peek-message'(entity, body) {
        const from = toNumber(body['from-sequence-number'] === undefined ? 1 : body['from-sequence-number']);
        const count = Math.max(1, toNumber(body['message-count'] === undefined ? 1 : body['message-count']));
        const found = [...entity.messages.values()]
            .filter((message) => message.seq >= from)
            .sort((a, b) => a.seq - b.seq)
            .slice(0, count);
        if (!found.length) return { status: 204, description: 'No messages to peek.' };
        const messages = found.map((message) => ({ message: encodeMessage(message, { locked: false }) }));
        return { status: 200, body: types.wrap_map({ messages }) };
    },

    'com.microsoft:receive-by-sequence-number'(entity, body) {
        const peekLock = toNumber(body['receiver-settle-mode'] === undefined ? 1 : body['receiver-settle-mode']) !== 0;
        const wanted = list(body['sequence-numbers']).map(toNumber);
        const found = wanted.map((seq) => entity.messages.get(seq));
        if (found.some((message) => !message || message.state !== 'deferred')) {
            throw new ManagementError(404, 'com.microsoft:message-not-found',
                'Failed to lock one or more specified messages. The messages do not exist or are not deferred.');
        }
        const messages = found.map((message) => {
            if (!peekLock) {
                const payload = encodeMessage(message, { locked: false });
                entity.remove(message);
                return { message: payload };
            }
            const token = lock(message);
            return { message: encodeMessage(message, { locked: true }), 'lock-token': types.wrap_uuid(token) };
        });
        return { status: 200, body: types.wrap_map({ messages }) };
    },
};

function onManagementRequest(context) {
    acceptIncoming(context.delivery);
    const link = context.receiver;
    const request = context.message;
    const operation = (request.application_properties || {}).operation;
    const body = request.body && typeof request.body === 'object' && !Buffer.isBuffer(request.body) ? request.body : {};
    let result;
    try {
        const handler = MANAGEMENT_OPERATIONS[operation];
        if (!handler) throw new ManagementError(501, 'amqp:not-implemented', `Operation ${operation} is not supported.`);
        result = handler(link.sbEntity, body);
    } catch (err) {
        if (!(err instanceof ManagementError)) {
            log(`management ${operation} failed: ${err && err.stack ? err.stack : err}`);
            err = new ManagementError(500, 'amqp:internal-error', String(err && err.message ? err.message : err));
        }
        result = { status: err.status, description: err.message, condition: err.condition };
    }
    const props = { statusCode: result.status, statusDescription: result.description || 'OK' };
    if (result.condition) props.errorCondition = types.wrap_symbol(result.condition);
    reply(context, link.sbNode, props, result.body);
}

// ---------------------------------------------------------------------------------------------
// Sending to queues

function onQueueMessage(context) {
    const delivery = context.delivery;
    const queue = context.receiver.sbQueue;
    const raw = context.format ? Buffer.from(context.message) : context.message.rawBytes;
    if (!raw) {
        rejectIncoming(delivery, 'amqp:decode-error', 'Could not read the message.');
        return;
    }
    if (raw.length > MAX_MESSAGE_SIZE) {
        rejectIncoming(delivery, 'amqp:link:message-size-exceeded',
            `The message (${raw.length} bytes) exceeds the limit of ${MAX_MESSAGE_SIZE} bytes.`);
        return;
    }
    try {
        const parts = context.format === BATCH_FORMAT ? unpackBatch(raw) : [raw];
        const parsed = parts.map(parseMessage); // validate every part before storing any
        if (parsed.length === 0) throw new Error('empty batch');
        parts.forEach((part) => enqueue(queue, part));
    } catch (err) {
        rejectIncoming(delivery, 'amqp:decode-error', `Could not decode the message: ${err.message}`);
        return;
    }
    acceptIncoming(delivery);
    schedule(queue.active);
}

// ---------------------------------------------------------------------------------------------
// Links

function echoTermini(link) {
    const remote = link.remote.attach;
    link.local.attach.source = remote.source ? remote.source.described() : null;
    link.local.attach.target = remote.target ? remote.target.described() : null;
    link.local.attach.snd_settle_mode = remote.snd_settle_mode === undefined ? 2 : remote.snd_settle_mode;
    // As a receiver the broker always settles first (with the outcome), whatever was asked.
    link.local.attach.rcv_settle_mode = link.is_receiver() || remote.rcv_settle_mode === undefined
        ? 0 : remote.rcv_settle_mode;
    link.local.attach.max_message_size = MAX_MESSAGE_SIZE;
}

/** Settle an incoming delivery (a send, a request) at once with its outcome, alone. */
function acceptIncoming(delivery) {
    settleAlone(delivery, amqpMessage.accepted().described());
}

function rejectIncoming(delivery, condition, description) {
    settleAlone(delivery, amqpMessage.rejected({ error: { condition, description } }).described());
}

function refuse(link, condition, description) {
    link.close({ condition, description });
}

function refuseAddress(link, parsed, address) {
    if (parsed.kind === 'unsupported') {
        refuse(link, 'amqp:not-implemented', `Topics and subscriptions are not supported: ${address}`);
    } else {
        refuse(link, 'amqp:not-found', `The messaging entity '${address}' could not be found.`);
    }
}

function missingQueue(link, name) {
    refuse(link, 'amqp:not-found', `The messaging entity '${name}' could not be found.`);
}

/** The peer attached a sending link: we receive requests or messages on it. */
function onReceiverOpen(context) {
    const link = context.receiver;
    echoTermini(link);
    const address = link.remote.attach.target && link.remote.attach.target.address;
    const parsed = parseAddress(address);
    switch (parsed.kind) {
    case 'cbs':
        link.sbRole = 'cbs';
        link.sbNode = '$cbs';
        return;
    case 'management': {
        const queue = lookupQueue(parsed.name);
        if (!queue) return missingQueue(link, parsed.name);
        link.sbRole = 'management';
        link.sbNode = parsed.node;
        link.sbEntity = parsed.deadLetter ? queue.dlq : queue.active;
        return;
    }
    case 'entity': {
        if (parsed.deadLetter) {
            return refuse(link, 'amqp:not-allowed', 'Messages cannot be sent to a dead-letter queue.');
        }
        const queue = lookupQueue(parsed.name);
        if (!queue) return missingQueue(link, parsed.name);
        link.sbRole = 'send';
        link.sbQueue = queue;
        return;
    }
    default:
        return refuseAddress(link, parsed, address);
    }
}

/** The peer attached a receiving link: we deliver messages or responses on it. */
function onSenderOpen(context) {
    const link = context.sender;
    echoTermini(link);
    const source = link.remote.attach.source;
    const address = source && source.address;
    const parsed = parseAddress(address);
    switch (parsed.kind) {
    case 'cbs':
        link.sbReplyNode = '$cbs';
        return;
    case 'management':
        if (!lookupQueue(parsed.name)) return missingQueue(link, parsed.name);
        link.sbReplyNode = parsed.node;
        return;
    case 'entity': {
        const filter = source.filter;
        if (filter && Object.keys(filter).some((k) => k.toLowerCase() === 'com.microsoft:session-filter')) {
            return refuse(link, 'amqp:not-implemented', 'Sessions are not supported by the local broker.');
        }
        const queue = lookupQueue(parsed.name);
        if (!queue) return missingQueue(link, parsed.name);
        const consumer = addConsumer(link, parsed.deadLetter ? queue.dlq : queue.active);
        schedule(consumer.entity);
        return;
    }
    default:
        return refuseAddress(link, parsed, address);
    }
}

function onMessage(context) {
    switch (context.receiver.sbRole) {
    case 'cbs': return onCbsRequest(context);
    case 'management': return onManagementRequest(context);
    case 'send': return onQueueMessage(context);
    default:
        return rejectIncoming(context.delivery, 'amqp:not-allowed', 'Link is not usable.');
    }
}

function dropConsumers(connection) {
    for (const queue of queues.values()) {
        for (const entity of [queue.active, queue.dlq]) {
            for (const consumer of [...entity.consumers]) {
                if (consumer.link.connection === connection) removeConsumer(consumer);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Time-driven work: scheduled messages, lock expiry, duplicate-detection history

function tick() {
    const time = now();
    for (const queue of queues.values()) {
        for (const entity of [queue.active, queue.dlq]) {
            let changed = false;
            for (const message of entity.messages.values()) {
                if (message.state === 'scheduled' && message.scheduledAt <= time) {
                    message.state = 'available';
                    changed = true;
                } else if (message.state === 'locked' && message.lockedUntil <= time) {
                    failDelivery(message);
                    changed = true;
                }
            }
            if (changed) schedule(entity);
            entity.consumers.forEach(retireStaleDeliveries);
        }
        for (const [id, until] of queue.seen) {
            if (until <= time) queue.seen.delete(id);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Server

const container = rhea.create_container({ id: 'centro-stella-local-servicebus' });
container.sasl_server_mechanisms.enable_anonymous();
container.sasl_server_mechanisms.enable_plain(() => true);

container.on('connection_open', (context) => {
    const connection = context.connection;
    const remoteOpen = connection.remote.open || {};
    const socket = connection.socket;
    connection.sbPeer = socket ? `${socket.remoteAddress}:${socket.remotePort}` : 'unknown';
    log(`connection open ${connection.sbPeer} container=${remoteOpen.container_id || ''}`);
});

function onConnectionGone(context) {
    const connection = context.connection;
    if (connection.sbGone) return;
    connection.sbGone = true;
    dropConsumers(connection);
    log(`connection closed ${connection.sbPeer || 'unknown'}`);
}

container.on('connection_close', onConnectionGone);
container.on('connection_error', onConnectionGone);
container.on('disconnected', onConnectionGone);
container.on('receiver_open', onReceiverOpen);
container.on('sender_open', onSenderOpen);
container.on('message', onMessage);
container.on('sendable', (context) => {
    if (context.sender.sbConsumer) schedule(context.sender.sbConsumer.entity);
});
container.on('sender_draining', (context) => {
    const consumer = context.sender.sbConsumer;
    if (!consumer) return;
    dispatch(consumer.entity); // spend what credit there is, then give the rest back
    setImmediate(() => finishDrain(consumer)); // rhea writes the transfers on the next tick
});
for (const kind of ['accepted', 'released', 'rejected', 'modified']) {
    container.on(kind, (context) => onOutcome(context, kind));
}
for (const event of ['sender_close', 'sender_error']) {
    container.on(event, (context) => {
        if (context.sender.sbConsumer) removeConsumer(context.sender.sbConsumer);
    });
}
for (const event of ['receiver_close', 'receiver_error', 'session_error', 'settled']) {
    container.on(event, () => {}); // handled: keeps rhea from treating them as unhandled errors
}
container.on('session_close', (context) => {
    context.session.each_link((link) => {
        if (link.sbConsumer) removeConsumer(link.sbConsumer);
    });
});
container.on('protocol_error', (context) => log(`protocol error: ${context && context.error ? context.error : context}`));
container.on('error', (err) => log(`error: ${err && err.message ? err.message : err}`));

process.on('uncaughtException', (err) => {
    log(`internal error (continuing): ${err && err.stack ? err.stack : err}`);
});

readClockFile();

const server = container.listen({
    host: OPTIONS.host,
    port: OPTIONS.port,
    autoaccept: false,
    tcp_no_delay: true,
    treat_modified_as_released: false,
    session_buffer_size: { outgoing: 1 << 16, incoming: 2048 },
    max_frame_size: 1024 * 1024,
    container_id: 'centro-stella-local-servicebus',
});

server.on('listening', () => {
    const { port } = server.address();
    log(`listening on ${OPTIONS.host}:${port} (${queues.size} configured queues, auto-create ${OPTIONS.autoCreate ? 'on' : 'off'})`);
    process.stdout.write(`READY ${port}\n`);
});
server.on('error', (err) => {
    process.stderr.write(`broker.js: cannot listen on ${OPTIONS.host}:${OPTIONS.port}: ${err.message}\n`);
    process.exit(1);
});

setInterval(() => {
    readClockFile();
    tick();
}, 100);

// Whoever started us reads our output; when it is gone (pipe closed, or we were re-parented
// after it died), stop instead of lingering as an orphan.
const parentPid = process.ppid;
process.stdout.on('error', () => process.exit(0));
setInterval(() => {
    if (process.ppid !== parentPid) process.exit(0);
}, 1000).unref();

function shutdown(signal) {
    log(`${signal}: shutting down`);
    server.close();
    process.exit(0);
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
