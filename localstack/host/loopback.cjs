// Preloaded into the Node.js processes LocalStack starts in host mode (kinesis-mock, which backs
// DynamoDB Streams) via NODE_OPTIONS=--require, set by localstack/emulator.sh. kinesis-mock
// listens on 0.0.0.0 with no option to change it; here a listen on all interfaces (no host,
// 0.0.0.0 or ::) becomes a listen on 127.0.0.1. Explicit hosts and Unix sockets are unchanged.
'use strict';

const net = require('net');

const LOOPBACK = '127.0.0.1';
const ALL = new Set([undefined, null, '', '0.0.0.0', '::']);
const isPort = (v) => typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v));
const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function figLoopbackListen(...args) {
  const [first] = args;
  if (args.length === 0 || typeof first === 'function') {
    args.unshift(0, LOOPBACK); // listen([callback]): any port
  } else if (isPort(first)) {
    // listen(port[, host][, backlog][, callback])
    if (typeof args[1] === 'string' || args[1] === null) {
      if (ALL.has(args[1])) args[1] = LOOPBACK;
    } else {
      args.splice(1, 0, LOOPBACK);
    }
  } else if (first && typeof first === 'object' && first.path === undefined && first.fd === undefined
      && first.handle === undefined && first._handle === undefined && ALL.has(first.host)) {
    args[0] = { ...first, host: LOOPBACK }; // listen(options[, callback])
  }
  return listen.apply(this, args);
};
