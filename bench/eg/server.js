// bench/eg/server.js: starts Express Gateway from the install made by
// bench/eg/setup.sh, on the config directory given as the first argument,
// exactly as the server.js that `eg gateway create` generates does.
//
//   BENCH_EG_DIR=<install dir> node bench/eg/server.js <config dir>
const path = require('path');

const dir = process.env.BENCH_EG_DIR;
const configDir = process.argv[2];
if (!dir || !configDir) {
  console.error('usage: BENCH_EG_DIR=<install dir> node server.js <config dir>');
  process.exit(2);
}
require(path.join(dir, 'node_modules', 'express-gateway'))()
  .load(path.resolve(configDir))
  .run();
