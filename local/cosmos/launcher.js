#!/usr/bin/env node
/*
 * Local Cosmos DB (SQL API) emulator: @vercel/cosmosdb-server, served over plain HTTP with the
 * fixes the Python SDK (azure-cosmos) needs.
 *
 *   node local/cosmos/launcher.js [--port 0] [--host 127.0.0.1]
 *
 * Binds the port (0 = any free one), then prints "READY <port>". Data lives in memory only.
 *
 * Differences from the stock server (see node_modules/@vercel/cosmosdb-server/lib/index.js):
 * - HTTP keep-alive (the stock handler sends "connection: close" on every response), with an idle
 *   timeout longer than the clients' own so that the client, not the server, retires idle sockets.
 * - GET / advertises http://<Host header>/ as the readable and writable location (stock: https),
 *   so the SDK's endpoint discovery keeps talking to this server and needs no special option.
 * - Reading a missing document is a 404 with a Cosmos error body (stock: a TypeError -> 500).
 * - A query with an x-ms-documentdb-partitionkey header only sees the documents of that partition
 *   (filtered on the container's partition key path before the query runs, so TOP, ORDER BY and
 *   COUNT are partition-scoped too).
 * - Batch: an operation without "partitionKey" takes the request's partition key header; Patch is
 *   supported; an atomic batch (what the Python SDK sends) that fails is rolled back and answered
 *   207 with 424 for every other operation, as Cosmos DB does.
 * - A query's FROM gathers its rows in one pass (the query library's compiled code copied them
 *   once per row: quadratic, 22 s for a 50,000-document partition).
 * - Every error response has a Cosmos-like body {"code": ..., "message": ...}.
 * - GET /_emulator/stats -> {"connections", "requests", "accepted", "open"} (see handleStats);
 *   POST /_emulator/stats/reset zeroes the counters. Neither is counted.
 * - SIGTERM/SIGINT: stop listening, close the sockets, exit 0.
 */

"use strict";

const http = require("http");
const crypto = require("crypto");

const lib = name => require(`@vercel/cosmosdb-server/lib/${name}`);

const Account = lib("account").default;
const routes = lib("routes").default;
const readJson = lib("json").default;
const trueHeader = lib("true-header").default;
const readItems = lib("handler/_read-items").default;
const documentOperations = lib("handler/_document-operations");
const { patchOperation } = lib("handler/_patch-operations");
const { parsePartitionKey } = lib("utils/get-partition-from-header");
const stockHandlers = {
  readMeta: lib("handler/read-meta").default,
  readDocument: lib("handler/read-document").default,
  queryDocuments: lib("handler/query-documents").default,
  batchDocuments: lib("handler/batch-documents").default
};
const cosmosQuery = require("@zeit/cosmosdb-query").default;

// @zeit/cosmosdb-query compiles `FROM c` to `$c.reduce(($, c) => ... [...$, { c }] ..., [])`,
// which copies the rows gathered so far once per row: quadratic in the documents a query sees
// (a partition of 20,000 took 2 s, of 50,000 22 s, however small its TOP). The same rows in one
// pass; the compiled code is otherwise unchanged (the server and this launcher share the module).
const LinearQuery = cosmosQuery("SELECT * FROM c").constructor;
const compiled = Object.getOwnPropertyDescriptor(LinearQuery.prototype, "code").get;
const QUADRATIC_FROM =
  /\.reduce\(\(\$, (\w+)\) => typeof \1 !== "undefined" \? \[\.\.\.\$, \{\s*\1: \1\s*\}\] : \$, \[\]\)/g;
Object.defineProperty(LinearQuery.prototype, "code", {
  get() {
    if (this._linearCode === undefined) {
      const code = compiled.call(this);
      this._linearCode = code && code.replace(QUADRATIC_FROM, (_, name) =>
        `.filter(${name} => typeof ${name} !== "undefined").map(${name} => ({ ${name}: ${name} }))`);
    }
    return this._linearCode;
  }
});
// Loudly, if a version of the library compiles FROM otherwise: the rewrite would not apply.
if (cosmosQuery("SELECT * FROM c WHERE c.a = 1").code.includes("[...$")) {
  throw new Error("@zeit/cosmosdb-query's FROM is no longer the pattern this launcher rewrites");
}

const PK_HEADER = "x-ms-documentdb-partitionkey";
// Longer than the idle timeouts of aiohttp (15 s) and of azure-core's requests transport pool, so
// an idle keep-alive socket is closed by the client first and never races a request.
const KEEP_ALIVE_TIMEOUT_MS = 120 * 1000;

const ERROR_CODES = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  409: "Conflict",
  412: "PreconditionFailed",
  413: "RequestEntityTooLarge",
  424: "FailedDependency",
  429: "TooManyRequests",
  500: "InternalServerError"
};

const notFound = () => ({
  code: "NotFound",
  message: "Entity with the specified id does not exist in the system."
});

function parseArgs(argv) {
  const args = { port: 0, host: "127.0.0.1" };
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === "--port" || argv[i] === "-p") {
      args.port = parseInt(argv[(i += 1)], 10);
    } else if (argv[i] === "--host") {
      args.host = argv[(i += 1)];
    } else {
      throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535) {
    throw new Error("--port needs a number between 0 and 65535");
  }
  return args;
}

/**
 * The partition key sent in the request header, as { value } (value undefined for the "none"
 * partition key [{}]), or null if there is none (no header, or the empty key []).
 */
function headerPartitionKey(req) {
  let raw = req.headers[PK_HEADER];
  if (Array.isArray(raw)) [raw] = raw;
  if (raw === undefined || raw === "") return null;
  let parsed;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    return null;
  }
  if (!Array.isArray(parsed)) return { value: parsed };
  if (parsed.length === 0) return null;
  const [first] = parsed;
  const isNone = first !== null && typeof first === "object" && Object.keys(first).length === 0;
  return { value: isNone ? undefined : first };
}

const samePartition = (a, b) =>
  a === undefined || b === undefined ? a === b : JSON.stringify(a) === JSON.stringify(b);

// GET /: the account, with its locations pointing at the address the client used.
function readMeta(account, req) {
  const endpoint = `http://${req.headers.host}/`;
  const meta = account.read();
  const locate = locations =>
    locations.map(location => ({ ...location, databaseAccountEndpoint: endpoint }));
  return {
    ...meta,
    writableLocations: locate(meta.writableLocations),
    readableLocations: locate(meta.readableLocations)
  };
}

// GET /dbs/:dbId/colls/:collId/docs/:docId
function readDocument(account, req, res, { dbId, collId, docId }) {
  const collection = account.database(dbId).collection(collId);
  if (!collection.read()) {
    res.statusCode = 404;
    return notFound();
  }
  const header = req.headers[PK_HEADER];
  const partitionKey = header ? parsePartitionKey(header, docId) : docId;
  const data = collection.document(docId, partitionKey).read();
  if (!data) {
    res.statusCode = 404;
    return notFound();
  }
  return data;
}

// POST /dbs/:dbId/colls/:collId/docs (query): partition-scoped when a partition key is sent.
function queryDocuments(account, req, res, { dbId, collId }) {
  return readItems(req, res, "Documents", async ({ continuation, maxItemCount }) => {
    const body = await readJson(req);
    if (!body || !body.query) {
      res.statusCode = 400;
      return { code: "BadRequest", message: "missing query" };
    }
    const collection = account.database(dbId).collection(collId);
    const properties = collection.read();
    if (!properties) return null; // -> 404
    const partition = headerPartitionKey(req);
    const documents = collection.documents;
    if (!partition && !trueHeader(req, "x-ms-documentdb-query-enablecrosspartition")) {
      const paths = (properties.partitionKey || {}).paths || [];
      if (paths.length && !cosmosQuery(body.query).containsPartitionKeys(paths)) {
        res.statusCode = 400;
        return { code: "BadRequest", message: "missing partition keys" };
      }
    }
    let data = [...documents._data.values()].map(item => item.read());
    if (partition) {
      data = data.filter(doc => samePartition(documents._getPartition(doc), partition.value));
    }
    const compositeIndexes = (properties.indexingPolicy || {}).compositeIndexes || [];
    try {
      return documents._getQuery(body.query).exec(data, {
        parameters: body.parameters,
        udf: documents._userDefinedFunctions(),
        maxItemCount,
        continuation,
        compositeIndexes
      });
    } catch (err) {
      res.statusCode = 400;
      return { code: "BadRequest", message: err.message };
    }
  });
}

// POST /dbs/:dbId/colls/:collId/docs (batch)
async function batchDocuments(account, req, res, { dbId, collId }) {
  const body = await readJson(req);
  const atomic = trueHeader(req, "x-ms-cosmos-batch-atomic");
  const continueOnError = !atomic && trueHeader(req, "x-ms-cosmos-batch-continue-on-error");
  const collection = account.database(dbId).collection(collId);
  if (!collection.read()) {
    res.statusCode = 404;
    return notFound();
  }
  if (!Array.isArray(body)) {
    res.statusCode = 400;
    return { code: "BadRequest", message: "Invalid request body" };
  }
  let headerKey = req.headers[PK_HEADER];
  if (Array.isArray(headerKey)) [headerKey] = headerKey;
  const documents = collection.documents;
  // An atomic batch records what it changes, to undo it if an operation fails (copying the
  // container's maps instead would cost every batch the size of the container).
  const snapshot = atomic && journal(documents);
  const results = [];
  let failedAt = -1;
  try {
    for (let i = 0; i < body.length; i += 1) {
      if (failedAt >= 0 && !continueOnError) {
        results.push({ statusCode: 424, requestCharge: 0 });
        continue; // eslint-disable-line no-continue
      }
      const input = { ...(body[i] || {}) };
      if (input.partitionKey === undefined && headerKey !== undefined) input.partitionKey = headerKey;
      if (input.partitionKey === undefined && input.resourceBody && input.resourceBody.id) {
        input.partitionKey = JSON.stringify([documents._getPartition(input.resourceBody)]);
      }
      let result;
      switch (input.operationType) {
        case "Create":
          result = documentOperations.createOperation(collection, input);
          break;
        case "Upsert":
          result = documentOperations.upsertOperation(collection, input);
          break;
        case "Read":
          result = documentOperations.readOperation(collection, input);
          break;
        case "Delete":
          result = documentOperations.deleteOperation(collection, input);
          break;
        case "Replace":
          result = documentOperations.replaceOperation(collection, input);
          break;
        case "Patch": {
          const patch = input.resourceBody || {};
          result = patchOperation(collection, {
            id: input.id,
            partitionKey: input.partitionKey,
            ifMatch: input.ifMatch,
            operations: patch.operations || [],
            condition: patch.condition
          });
          break;
        }
        default:
          if (snapshot) snapshot.undo();
          res.statusCode = 400;
          return {
            code: "BadRequest",
            message: `Operation type '${input.operationType}' is not supported in Batch.`
          };
      }
      if (result.statusCode >= 400) {
        if (failedAt < 0) failedAt = i;
        results.push({
          statusCode: result.statusCode,
          requestCharge: 0,
          ...(result.body && result.body.message ? { message: result.body.message } : {})
        });
      } else {
        results.push({
          statusCode: result.statusCode,
          requestCharge: 1,
          eTag: result.body ? result.body._etag : undefined,
          resourceBody: result.body
        });
      }
    }
  } finally {
    if (snapshot) snapshot.close();
  }
  if (failedAt >= 0 && snapshot) {
    snapshot.undo();
    for (let i = 0; i < results.length; i += 1) {
      if (i !== failedAt) results[i] = { statusCode: 424, requestCharge: 0 };
    }
    res.statusCode = 207;
  }
  return results;
}

function journal(documents) {
  const undo = [];
  const ridCount = documents._ridCount;
  const maps = [documents._data, documents._index];
  for (const map of maps) {
    map.set = (key, value) => {
      undo.push([map, key, map.has(key), map.get(key)]);
      return Map.prototype.set.call(map, key, value);
    };
    map.delete = key => {
      undo.push([map, key, map.has(key), map.get(key)]);
      return Map.prototype.delete.call(map, key);
    };
  }
  const close = () => {
    for (const map of maps) {
      delete map.set;
      delete map.delete;
    }
  };
  return {
    close,
    undo() {
      close();
      for (let i = undo.length - 1; i >= 0; i -= 1) {
        const [map, key, had, value] = undo[i];
        if (had) map.set(key, value);
        else map.delete(key);
      }
      documents._ridCount = ridCount;
    }
  };
}

const overrides = new Map([
  [stockHandlers.readMeta, readMeta],
  [stockHandlers.readDocument, readDocument],
  [stockHandlers.queryDocuments, queryDocuments],
  [stockHandlers.batchDocuments, batchDocuments]
]);

const stats = { connections: 0, requests: 0, accepted: 0, open: 0 };
// Requests by what they did, for placing round trips (GET /_emulator/kinds): "<operation>
// <collection>[ <status>]", the status only when it is an error (a 412 is a lost ETag race).
let kinds = {};

function kindOf(req) {
  const path = req.url.split("?")[0].split("/").filter(Boolean);
  const collection = path[2] === "colls" ? path[3] : path[path.length - 2] || path[0] || "account";
  const isDocs = path[4] === "docs";
  const one = isDocs && path.length > 5;
  let operation = req.method.toLowerCase();
  if (isDocs && req.method === "POST") {
    if (trueHeader(req, "x-ms-documentdb-isquery")) operation = "query";
    else if (trueHeader(req, "x-ms-cosmos-is-batch-request")) operation = "batch";
    else operation = trueHeader(req, "x-ms-documentdb-is-upsert") ? "upsert" : "create";
  } else if (one) {
    operation = { GET: "read", PUT: "replace", PATCH: "patch", DELETE: "delete" }[req.method];
  } else if (isDocs) {
    operation = "feed";
  }
  return `${operation} ${collection}`;
}

function countKind(req, res) {
  const key = kindOf(req) + (res.statusCode >= 400 ? ` ${res.statusCode}` : "");
  kinds[key] = (kinds[key] || 0) + 1;
}

/**
 * GET /_emulator/stats: counters since start (or the last POST /_emulator/stats/reset).
 *   connections: TCP connections that carried at least one Cosmos API request
 *   requests:    Cosmos API requests (HTTP round trips)
 *   accepted:    every TCP connection accepted, including ones only used for /_emulator
 *   open:        TCP connections open now
 * GET /_emulator/kinds: the same requests by operation and collection (reset with the stats).
 */
function handleStats(req, res) {
  if (req.method === "POST" && req.url.startsWith("/_emulator/stats/reset")) {
    stats.connections = 0;
    stats.requests = 0;
    stats.accepted = 0;
    kinds = {};
  } else if (req.method !== "GET") {
    res.statusCode = 405;
  }
  res.setHeader("content-type", "application/json");
  res.end(JSON.stringify(req.url.startsWith("/_emulator/kinds") ? kinds : stats));
}

function handleRequest(account, req, res) {
  if (req.url.startsWith("/_emulator/")) {
    handleStats(req, res);
    return;
  }
  stats.requests += 1;
  if (!req.socket.cosmosCounted) {
    req.socket.cosmosCounted = true;
    stats.connections += 1;
  }
  (async () => {
    const route = routes(req);
    let body;
    if (route) {
      const [params, stock] = route;
      const handler = overrides.get(stock) || stock;
      try {
        body = await handler(account, req, res, params);
      } catch (err) {
        console.error(err);
        res.statusCode = 500;
        body = { code: "InternalServerError", message: err.message };
      }
    } else {
      res.statusCode = 400;
      body = { code: "BadRequest", message: "no route" };
    }
    if (res.statusCode >= 400) {
      body = body && typeof body === "object" && !Array.isArray(body) ? body : {};
      if (!body.code) body.code = ERROR_CODES[res.statusCode] || String(res.statusCode);
      if (!body.message) {
        body.message = res.statusCode === 404 ? notFound().message : body.code;
      }
    }
    countKind(req, res);
    if (body && body._etag) res.setHeader("etag", body._etag);
    res.setHeader("content-type", "application/json");
    res.setHeader("content-location", `http://${req.headers.host}${req.url}`);
    res.setHeader("x-ms-activity-id", crypto.randomUUID());
    res.setHeader("x-ms-request-charge", "1");
    if (req.headers["a-im"] && res.statusCode === 200) {
      if (req.headers["if-none-match"]) res.statusCode = 304;
      res.setHeader("etag", "1");
    }
    res.end(body === undefined || res.statusCode === 204 ? undefined : JSON.stringify(body));
  })().catch(err => {
    console.error(err);
    if (!res.headersSent) {
      res.statusCode = 500;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ code: "InternalServerError", message: String(err) }));
    } else if (!res.writableEnded) {
      res.end();
    }
  });
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  let account;
  const server = http.createServer({ keepAlive: true }, (req, res) =>
    handleRequest(account, req, res)
  );
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 5000;
  server.requestTimeout = 0;
  server.on("connection", socket => {
    stats.accepted += 1;
    stats.open += 1;
    socket.setNoDelay(true);
    socket.on("close", () => {
      stats.open -= 1;
    });
  });

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => {
      server.closeAllConnections();
      process.exit(0);
    }, 1000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);

  server.on("error", err => {
    console.error(`cosmos emulator: ${err.message}`);
    process.exit(1);
  });
  server.listen(args.port, args.host, () => {
    const { port } = server.address();
    account = new Account(args.host, port);
    console.log(`READY ${port}`);
  });
}

main();
