import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import fc from 'fast-check';
import t from 'tap';
import { sampleJson, SchemaError } from '../../src/sim/json-schema.js';
import { Rng } from '../../src/sim/rng.js';

const ajv = new Ajv2020({ strict: false, allErrors: false });
((addFormatsModule as unknown as { default: (a: Ajv2020) => void }).default ?? addFormatsModule)(ajv);

/** Schemas from the vendors' structured-output and tool-use documentation, and ones that once produced invalid values. */
const corpus: Record<string, object> = {
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
  // OpenAI structured outputs guide: chain of thought, UI generation (recursive), moderation.
  mathReasoning: {
    type: 'object',
    properties: { steps: { type: 'array', items: { type: 'object', properties: { explanation: { type: 'string' }, output: { type: 'string' } }, required: ['explanation', 'output'], additionalProperties: false } }, final_answer: { type: 'string' } },
    required: ['steps', 'final_answer'],
    additionalProperties: false,
  },
  uiRecursive: {
    type: 'object',
    properties: {
      type: { type: 'string', enum: ['div', 'button', 'header', 'section', 'field', 'form'] },
      label: { type: 'string' },
      children: { type: 'array', items: { $ref: '#' } },
      attributes: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, value: { type: 'string' } }, required: ['name', 'value'], additionalProperties: false } },
    },
    required: ['type', 'label', 'children', 'attributes'],
    additionalProperties: false,
  },
  linkedList: { $defs: { node: { type: 'object', properties: { value: { type: 'number' }, next: { anyOf: [{ $ref: '#/$defs/node' }, { type: 'null' }] } }, required: ['value', 'next'], additionalProperties: false } }, $ref: '#/$defs/node' },
  moderation: { type: 'object', properties: { is_violating: { type: 'boolean' }, category: { type: ['string', 'null'], enum: ['violence', 'sexual', 'self_harm', null] }, explanation_if_violating: { type: ['string', 'null'] } }, required: ['is_violating', 'category', 'explanation_if_violating'], additionalProperties: false },
  // Anthropic tool use: enum units, optional fields, nested arrays.
  stock: { type: 'object', properties: { ticker: { type: 'string', pattern: '^[A-Z]{1,5}$', description: 'The stock ticker symbol' }, range: { type: 'string', enum: ['1d', '5d', '1mo'] } }, required: ['ticker'] },
  // Formerly invalid: maxItems 0, maxLength 0, $ref "#" inside an array, __proto__, required below depth 8, exclusiveMinimum 0.
  maxItemsZero: { type: 'array', items: { type: 'integer' }, maxItems: 0 },
  maxLengthZero: { type: 'string', maxLength: 0 },
  refRootInArray: { type: 'object', properties: { kids: { type: 'array', items: { $ref: '#' }, maxItems: 2 } }, required: [] },
  protoProperty: { type: 'object', properties: { ['__proto__']: { type: 'string' }, constructor: { type: 'integer' } }, required: ['__proto__', 'constructor'] },
  deepRequired: nest(12),
  exclusiveZero: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 0.01 },
  floatMultiple: { type: 'number', multipleOf: 0.1, minimum: 0.25, maximum: 0.95 },
  uniqueEnum: { type: 'array', items: { enum: ['a', 'b', 'c'] }, minItems: 3, uniqueItems: true },
  tuple: { type: 'array', prefixItems: [{ type: 'string', format: 'date' }, { type: 'integer', minimum: -3, maximum: -1 }], items: false, minItems: 2 },
  oneOfOverlap: { oneOf: [{ type: 'object' }, { type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] }] },
  notString: { not: { type: 'string' } },
  minProperties: { type: 'object', properties: { a: { type: 'integer' } }, minProperties: 3 },
  formats: { type: 'object', properties: Object.fromEntries(['date-time', 'date', 'time', 'email', 'uri', 'uri-reference', 'uuid', 'hostname', 'ipv4', 'ipv6', 'duration'].map((f) => [f, { type: 'string', format: f }])), required: ['date-time', 'uuid', 'ipv6'] },
};

function nest(levels: number): object {
  let schema: object = { type: 'object', properties: { leaf: { type: 'string', minLength: 2 } }, required: ['leaf'] };
  for (let i = 0; i < levels; i++) schema = { type: 'object', properties: { down: schema, extra: { type: 'integer' } }, required: ['down'] };
  return schema;
}

for (const [name, schema] of Object.entries(corpus)) {
  t.test(`${name}: every draw validates (ajv)`, async (t) => {
    const validate = ajv.compile(schema);
    let bad = 0;
    for (let seed = 0; seed < 100; seed++) {
      // As the client sees it: the JSON text, parsed.
      const value = JSON.parse(JSON.stringify(sampleJson(schema, new Rng(seed), 100_000)));
      if (!validate(value) && bad++ < 3) t.fail(`seed ${seed}: ${JSON.stringify(value)} ${ajv.errorsText(validate.errors)}`);
    }
    t.equal(bad, 0);
    t.same(sampleJson(schema, new Rng(5)), sampleJson(schema, new Rng(5)), 'deterministic per seed');
  });
}

t.test('a property named __proto__ is kept as a property', async (t) => {
  const value = sampleJson(corpus.protoProperty, new Rng(1)) as Record<string, unknown>;
  t.ok(JSON.stringify(value).includes('"__proto__"'));
});

t.test('schemas it cannot satisfy, or does not understand, are refused with the keyword named', async (t) => {
  const refused: [string, object, RegExp][] = [
    ['a hundred million items', { type: 'array', minItems: 100_000_000 }, /longer than the model can write/],
    ['a huge string', { type: 'string', minLength: 1e9 }, /longer than the model can write/],
    ['nested minimums that multiply', { type: 'array', minItems: 1000, items: { type: 'array', minItems: 1000, items: { type: 'string', minLength: 10 } } }, /longer than the model can write/],
    ['a root that requires itself', { type: 'object', properties: { self: { $ref: '#' } }, required: ['self'] }, /deeper than 64|longer than/],
    ['a $ref cycle', { $defs: { a: { $ref: '#/$defs/b' }, b: { $ref: '#/$defs/a' } }, $ref: '#/$defs/a' }, /cycle/],
    ['$ref to itself beside other keywords', { $ref: '#', type: 'object' }, /cycle|deeper/],
    ['if/then/else', { type: 'object', if: { required: ['a'] }, then: { required: ['b'] } }, /"if" is not supported/],
    ['patternProperties', { type: 'object', patternProperties: { '^x': { type: 'string' } } }, /"patternProperties" is not supported/],
    ['a remote $ref', { $ref: 'https://example.com/schema.json' }, /only references into the same schema/],
    ['a dangling $ref', { $ref: '#/$defs/missing' }, /points at nothing/],
    ['contradictory bounds', { type: 'integer', minimum: 5, maximum: 4 }, /no integer/],
    ['minItems above maxItems', { type: 'array', minItems: 3, maxItems: 1 }, /minItems exceeds maxItems/],
    ['false', { type: 'object', properties: { a: false }, required: ['a'] }, /false accepts no value/],
    ['a lookahead pattern', { type: 'string', pattern: '^(?=a)a+$' }, /lookaround/],
    ['too few distinct values', { type: 'array', items: { type: 'boolean' }, minItems: 3, uniqueItems: true }, /uniqueItems/],
  ];
  for (const [what, schema, message] of refused) {
    const started = performance.now();
    let error: unknown = null;
    try {
      sampleJson(schema, new Rng(1), 262_144);
    } catch (err) {
      error = err;
    }
    t.ok(error instanceof SchemaError, `${what}: refused`);
    t.match(String((error as Error)?.message), message, what);
    t.ok(performance.now() - started < 1000, `${what}: refused quickly`);
  }
});

/** Schemas built from the supported keywords, nested, some of them unsatisfiable. */
const leaf = fc.oneof(
  fc.record({ type: fc.constant('string'), minLength: fc.option(fc.nat(20), { nil: undefined }), maxLength: fc.option(fc.nat(30), { nil: undefined }) }, { requiredKeys: ['type'] }),
  fc.record({ type: fc.constant('string'), format: fc.constantFrom('date-time', 'date', 'email', 'uuid', 'uri', 'ipv4') }),
  fc.record({ type: fc.constant('string'), pattern: fc.constantFrom('^[a-z]{3}$', '^\\d{2,4}-[A-F]+$', '^(yes|no)$', 'x+') }),
  fc.record(
    { type: fc.constantFrom('integer', 'number'), minimum: fc.option(fc.integer({ min: -50, max: 50 }), { nil: undefined }), exclusiveMaximum: fc.option(fc.integer({ min: -50, max: 80 }), { nil: undefined }), multipleOf: fc.option(fc.constantFrom(1, 2, 0.5, 0.1, 3), { nil: undefined }) },
    { requiredKeys: ['type'] },
  ),
  fc.record({ enum: fc.uniqueArray(fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.constant(null)), { minLength: 1, maxLength: 4 }) }),
  fc.record({ const: fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.boolean()) }),
  fc.constantFrom({ type: 'boolean' }, { type: 'null' }, true, {}),
);
const { schema: schemaArb } = fc.letrec<{ schema: unknown }>((tie) => ({
  schema: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leaf,
    fc
      // Plain names only: ajv reads inherited members (`constructor`, `__proto__`) as present properties; the corpus covers those names.
      .dictionary(fc.constantFrom('a', 'b', 'c', 'd'), tie('schema'), { maxKeys: 3 })
      .chain((properties) =>
        fc.record(
          { type: fc.constant('object'), properties: fc.constant(properties), required: fc.subarray(Object.keys(properties)), additionalProperties: fc.option(fc.boolean(), { nil: undefined }), minProperties: fc.option(fc.nat(4), { nil: undefined }) },
          { requiredKeys: ['type', 'properties', 'required'] },
        ),
      ),
    fc.record({ type: fc.constant('array'), items: tie('schema'), minItems: fc.option(fc.nat(3), { nil: undefined }), maxItems: fc.option(fc.nat(4), { nil: undefined }), uniqueItems: fc.option(fc.boolean(), { nil: undefined }) }, { requiredKeys: ['type', 'items'] }),
    fc.record({ anyOf: fc.array(tie('schema'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ oneOf: fc.array(tie('schema'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ allOf: fc.array(tie('schema'), { minLength: 1, maxLength: 2 }) }),
    fc.record({ not: leaf }),
  ),
}));

t.test('generated schemas: the value validates, or the schema is refused (never an invalid value, never a crash)', async (t) => {
  let produced = 0;
  let refused = 0;
  fc.assert(
    fc.property(schemaArb, fc.integer(), (schema, seed) => {
      let value: unknown;
      try {
        value = JSON.parse(JSON.stringify(sampleJson(schema, new Rng(seed), 50_000)));
      } catch (err) {
        if (err instanceof SchemaError) {
          refused++;
          return true;
        }
        throw err;
      }
      produced++;
      const validate = ajv.compile(schema as object);
      if (!validate(value)) throw new Error(`${JSON.stringify(schema)} gave ${JSON.stringify(value)}: ${ajv.errorsText(validate.errors)}`);
      return true;
    }),
    { numRuns: 600, seed: 20261202, interruptAfterTimeLimit: 20_000 },
  );
  t.ok(produced > refused, `${produced} schemas answered, ${refused} refused`);
});
