// Builds ../static/app.js and ../static/app.css from src/ (run by `npm run build` after
// `npm ci`; tests/vessel_agent/crewapp/test_bundle.py rebuilds and compares with the shipped files).
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] ?? path.join(here, "..", "static");
const common = { bundle: true, minify: true, legalComments: "none", logLevel: "warning", charset: "utf8" };
await build({
  ...common,
  entryPoints: [path.join(here, "src", "app.js")],
  outfile: path.join(out, "app.js"),
  format: "iife",
  target: ["es2020", "chrome80", "firefox78", "safari15"],
});
await build({
  ...common,
  entryPoints: [path.join(here, "src", "app.css")],
  outfile: path.join(out, "app.css"),
  target: ["es2020", "chrome80", "firefox78", "safari15"],
});

// The MIT licences of the bundled libraries travel with the bundle (served at /licenses.txt).
import { readFileSync, writeFileSync } from "node:fs";
const notices = ["@noble/ciphers", "@noble/curves", "@noble/hashes"].map((name) => {
  const pkg = JSON.parse(readFileSync(path.join(here, "node_modules", name, "package.json"), "utf8"));
  const licence = readFileSync(path.join(here, "node_modules", name, "LICENSE"), "utf8").trim();
  return `${name} ${pkg.version} (${pkg.license})\n\n${licence}\n`;
});
writeFileSync(path.join(out, "licenses.txt"), `Bundled in app.js:\n\n${notices.join("\n---\n\n")}`);
