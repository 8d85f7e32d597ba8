// Reads [{existing, data}] on stdin and prints, for each pair, what lodash makes of it in
// every CRM-data merge mode. Used by crates/domain/tests/lodash_differential.rs.
const _ = require(process.env.LODASH_PATH || "lodash");
const pairs = JSON.parse(require("fs").readFileSync(0, "utf8"));
const results = pairs.map(({ existing, data }) => ({
  assign: _.assign(_.cloneDeep(existing), _.cloneDeep(data)),
  merge: _.merge(_.cloneDeep(existing), _.cloneDeep(data)),
  defaults: _.defaults(_.cloneDeep(existing), _.cloneDeep(data)),
  defaultsDeep: _.defaultsDeep(_.cloneDeep(existing), _.cloneDeep(data)),
}));
process.stdout.write(JSON.stringify(results));
