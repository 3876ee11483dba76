/**
 * Prints the README's model catalogue table from the built-in catalogue:
 * `node dist/scripts/model-table.js`. test/unit/readme.test.ts checks the README agrees.
 */
import { Catalogue, type Model } from '../src/sim/catalogue.js';

export function modelRows(models: readonly Model[]): string[] {
  const rows: string[] = [];
  const embeddings = models.filter((m) => m.kind === 'embedding');
  for (const m of models) {
    if (m.kind === 'embedding') {
      if (m === embeddings[0]) {
        const ids = embeddings.map((e, i) => (i === 0 ? e.id : e.id.replace(/^text-embedding-/, i === 1 ? '-' : ''))).join(' / ');
        const dims = embeddings.map((e) => e.embeddingDimensions).join(' / ');
        rows.push(`| ${ids} | | embedding (${dims} dims) | ${m.profile} |`);
      }
      continue;
    }
    rows.push(`| ${m.id} | ${m.aliases.join(', ')} | ${m.kind} | ${m.profile} |`);
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log('| id | aliases | kind | profile |\n| --- | --- | --- | --- |');
  for (const row of modelRows(new Catalogue().models)) console.log(row);
}
