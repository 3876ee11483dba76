/**
 * Prints the README's fault catalogue table from src/faults/catalogue.ts:
 * `node dist/scripts/fault-table.js`. test/unit/readme.test.ts checks the README agrees.
 */
import { FAULT_TYPES, FAULTS, type FaultEntry } from '../src/faults/catalogue.js';

export function faultRows(): string[] {
  return FAULT_TYPES.map((type) => {
    const f: FaultEntry = FAULTS[type];
    return `| \`${type}\` | ${f.kind} | ${f.does}${f.nonStream === undefined ? '' : `; non-stream: ${f.nonStream}`} |`;
  });
}

if (import.meta.url === `file://${process.argv[1]}`) for (const row of faultRows()) console.log(row);
