// check_openapi.js: validates docs/openapi.yaml (or the file named) with the pinned
// @apidevtools/swagger-parser (package.json / package-lock.json, installed by `npm ci`):
// the document must be valid OpenAPI 3 (schema and $refs), and every operation must carry an
// operationId, unique across the document. Prints one line per problem; exit 0 when valid.
'use strict';
const SwaggerParser = require('@apidevtools/swagger-parser');

const file = process.argv[2] || 'docs/openapi.yaml';
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

(async () => {
  let api;
  try {
    api = await SwaggerParser.validate(file);
  } catch (e) {
    console.error(`${file}: not valid OpenAPI: ${e.message}`);
    process.exit(1);
  }
  if (!/^3\./.test(api.openapi || '')) {
    console.error(`${file}: openapi is '${api.openapi}', expected 3.x`);
    process.exit(1);
  }
  const seen = new Map();
  const problems = [];
  let n = 0;
  for (const [path, item] of Object.entries(api.paths || {})) {
    for (const m of METHODS) {
      if (!item[m]) continue;
      n++;
      const id = item[m].operationId;
      if (!id) problems.push(`${m.toUpperCase()} ${path}: no operationId`);
      else if (seen.has(id)) problems.push(`${m.toUpperCase()} ${path}: operationId '${id}' also on ${seen.get(id)}`);
      else seen.set(id, `${m.toUpperCase()} ${path}`);
    }
  }
  for (const p of problems) console.error(`${file}: ${p}`);
  if (problems.length) process.exit(1);
  console.log(`${file}: valid OpenAPI ${api.openapi}, ${n} operations, each with a unique operationId`);
})();
