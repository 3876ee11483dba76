import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import t from 'tap';
import { sampleJson } from '../../src/sim/json-schema.js';
import { Rng } from '../../src/sim/rng.js';

const ajv = new Ajv2020({ strict: false });
((addFormatsModule as unknown as { default: (a: Ajv2020) => void }).default ?? addFormatsModule)(ajv);

const schemas: Record<string, object> = {
  weather: { type: 'object', properties: { city: { type: 'string' }, unit: { enum: ['c', 'f'] }, days: { type: 'integer', minimum: 1, maximum: 7 } }, required: ['city', 'unit'], additionalProperties: false },
  nested: {
    type: 'object',
    properties: {
      items: { type: 'array', minItems: 2, maxItems: 4, items: { type: 'object', properties: { id: { type: 'string', format: 'uuid' }, at: { type: 'string', format: 'date-time' }, price: { type: 'number', exclusiveMinimum: 0, maximum: 10 } }, required: ['id', 'at', 'price'] } },
      note: { type: ['string', 'null'], maxLength: 12 },
      ok: { type: 'boolean' },
    },
    required: ['items', 'note', 'ok'],
  },
  refs: { $defs: { point: { type: 'object', properties: { x: { type: 'number' }, y: { type: 'number' } }, required: ['x', 'y'] } }, type: 'object', properties: { a: { $ref: '#/$defs/point' }, b: { anyOf: [{ type: 'null' }, { $ref: '#/$defs/point' }] } }, required: ['a', 'b'] },
  unions: { type: 'object', properties: { kind: { const: 'fixed' }, email: { type: 'string', format: 'email' }, even: { type: 'integer', multipleOf: 2, minimum: 3, maximum: 9 }, mix: { allOf: [{ type: 'object', properties: { p: { type: 'string', minLength: 3 } }, required: ['p'] }, { properties: { q: { type: 'integer' } } }] } }, required: ['kind', 'email', 'even', 'mix'] },
};

for (const [name, schema] of Object.entries(schemas)) {
  t.test(`${name}: every draw validates`, async (t) => {
    const validate = ajv.compile(schema);
    for (let seed = 0; seed < 200; seed++) {
      const value = sampleJson(schema, new Rng(seed));
      if (!validate(value)) t.fail(`seed ${seed}: ${JSON.stringify(value)} ${ajv.errorsText(validate.errors)}`);
    }
    t.same(sampleJson(schema, new Rng(5)), sampleJson(schema, new Rng(5)), 'deterministic per seed');
  });
}
