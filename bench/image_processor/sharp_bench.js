// Baseline for bench/image_processor/run.py: what the original Node.js image-processor did with
// sharp, per upload: two independent pipelines from the original bytes, each auto-rotated by EXIF,
// fit inside NxN (no enlargement), JPEG quality 80, metadata stripped (sharp's default).
//
// usage: node sharp_bench.js <sharp module dir> <input.jpg> <iterations> <out dir>
// Prints one JSON line: {"cpu_ms": [...per iteration...], "outputs": {...}}.
// Run it with UV_THREADPOOL_SIZE=1 under `taskset -c <core>`; sharp.concurrency(1) below.
"use strict";

const fs = require("fs");
const path = require("path");

const [sharpDir, input, iterationsArg, outDir] = process.argv.slice(2);
const sharp = require(sharpDir);

sharp.concurrency(1); // one libvips worker thread
sharp.cache(false); // every upload is a new image: no operation cache hits between iterations

const SIZES = [
  ["medium", 800],
  ["thumb", 200],
];

async function once(data) {
  const outputs = {};
  for (const [name, box] of SIZES) {
    const { data: jpeg, info } = await sharp(data)
      .rotate() // EXIF orientation
      .resize(box, box, { fit: "inside", withoutEnlargement: true })
      .jpeg({ quality: 80 })
      .toBuffer({ resolveWithObject: true });
    outputs[name] = { jpeg, width: info.width, height: info.height };
  }
  return outputs;
}

(async () => {
  const data = fs.readFileSync(input);
  const iterations = Number(iterationsArg);
  for (let i = 0; i < 2; i++) await once(data); // warm-up
  const cpu = [];
  let outputs;
  for (let i = 0; i < iterations; i++) {
    const start = process.cpuUsage();
    outputs = await once(data);
    const used = process.cpuUsage(start);
    cpu.push((used.user + used.system) / 1000);
  }
  const summary = {};
  for (const [name, out] of Object.entries(outputs)) {
    const file = path.join(outDir, `sharp-${name}.jpg`);
    fs.writeFileSync(file, out.jpeg);
    summary[name] = { file, width: out.width, height: out.height, bytes: out.jpeg.length };
  }
  const versions = { sharp: sharp.versions.sharp, vips: sharp.versions.vips };
  console.log(JSON.stringify({ cpu_ms: cpu, outputs: summary, versions }));
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
