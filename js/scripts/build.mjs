// Builds the package: node scripts/build.mjs [OUT_DIR=dist]
//   OUT_DIR/index.js      the library, an ES module (viem is a dependency, not bundled)
//   OUT_DIR/cli-digest.mjs  a BalanceProof digest on the command line (tests/js.rs)
//   OUT_DIR/paywall.js    the paywall page's script: one minified ES module with viem inside,
//                         committed, embedded in the uraiden binary (tests/js.rs checks it is
//                         what this build makes)
// The output is deterministic: no timestamps, no absolute paths.
import { build } from "esbuild";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const out = process.argv[2] ? resolve(process.argv[2]) : join(root, "dist");
const common = { absWorkingDir: root, bundle: true, format: "esm", target: "es2022", logLevel: "warning", legalComments: "none" };

await Promise.all([
  build({ ...common, entryPoints: ["src/index.ts"], outfile: join(out, "index.js"), platform: "neutral", external: ["viem", "viem/*"] }),
  build({ ...common, entryPoints: ["src/cli-digest.ts"], outfile: join(out, "cli-digest.mjs"), platform: "node", external: ["viem", "viem/*"] }),
  build({ ...common, entryPoints: ["src/paywall/main.ts"], outfile: join(out, "paywall.js"), platform: "browser", minify: true, charset: "utf8" }),
]);
