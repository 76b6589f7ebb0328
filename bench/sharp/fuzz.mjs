// Reads {"input", "output", "width"} lines on stdin; for each, does what an upload pipeline on
// sharp does with its defaults (failOn: 'warning'): upright, at most `width` wide, never
// enlarged, written losslessly so only decoding damage shows. Writes {"input", "error"} lines.
import readline from "node:readline";
import sharp from "sharp";

sharp.concurrency(1);
const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const { input, output, width } = JSON.parse(line);
  let error = null;
  try {
    await sharp(input).rotate().resize({ width, withoutEnlargement: true }).toColourspace("srgb").png().toFile(output);
  } catch (exc) {
    error = String(exc.message || exc).split("\n")[0];
  }
  process.stdout.write(JSON.stringify({ input, error }) + "\n");
}
