#!/usr/bin/env node
/*
 * Local Azure Storage emulator: Azurite (blob, queue and table) in memory, in this process.
 *
 *   node local/azurite/launcher.js [--blob-port 0] [--queue-port 0] [--table-port 0]
 *                                  [--host 127.0.0.1]
 *
 * Each port 0 means any free port. Once all three services listen, prints
 *
 *   PORTS blob=<port> queue=<port> table=<port>
 *   READY <blob port>
 *
 * Azurite runs with in-memory persistence (nothing is written to disk), telemetry off, a 256 MB
 * extent memory limit, --loose and --skipApiVersionCheck (newer SDKs send API versions this
 * Azurite does not know), and no access log. SIGTERM/SIGINT: Azurite closes its servers; the
 * process exits at the latest two seconds later.
 */

"use strict";

const path = require("path");

function parseArgs(argv) {
  const args = { host: "127.0.0.1", blob: 0, queue: 0, table: 0 };
  const names = { "--blob-port": "blob", "--queue-port": "queue", "--table-port": "table" };
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === "--host") {
      args.host = argv[(i += 1)];
    } else if (names[argv[i]]) {
      const port = parseInt(argv[(i += 1)], 10);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new Error(`${argv[i - 1]} needs a number between 0 and 65535`);
      }
      args[names[argv[i - 1]]] = port;
    } else {
      throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return args;
}

const args = parseArgs(process.argv.slice(2));
const ports = {};
const LISTENING = /^Azurite (Blob|Queue|Table) service is successfully listening at \S*:(\d+)\/?$/;

// Azurite reports its real ports (also for port 0) only on the console: watch for them.
const log = console.log.bind(console);
console.log = (...parts) => {
  const line = parts.map(String).join(" ");
  log(line);
  const match = LISTENING.exec(line.trim());
  if (!match) return;
  ports[match[1].toLowerCase()] = Number(match[2]);
  if (ports.blob && ports.queue && ports.table) {
    log(`PORTS blob=${ports.blob} queue=${ports.queue} table=${ports.table}`);
    log(`READY ${ports.blob}`);
  }
};

const stop = () => setTimeout(() => process.exit(0), 2000).unref();
process.on("SIGTERM", stop);
process.on("SIGINT", stop);

const azurite = path.join(
  path.dirname(require.resolve("azurite/package.json")),
  "dist",
  "src",
  "azurite.js"
);
// azurite.js reads its options from process.argv when it is loaded.
process.argv = [
  process.argv[0],
  azurite,
  "--inMemoryPersistence",
  "--extentMemoryLimit",
  "256",
  "--disableTelemetry",
  "--silent",
  "--loose",
  "--skipApiVersionCheck",
  "--blobHost",
  args.host,
  "--blobPort",
  String(args.blob),
  "--queueHost",
  args.host,
  "--queuePort",
  String(args.queue),
  "--tableHost",
  args.host,
  "--tablePort",
  String(args.table)
];
require(azurite);
