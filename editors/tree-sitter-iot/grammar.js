/**
 * Tree-sitter grammar of the iotc language, for editors that highlight with
 * tree-sitter (Helix; Neovim can use it too). The language is defined by
 * `grammar/iot.pest`; this grammar follows it rule by rule, and
 * `compiler/tests/tree_sitter.rs` parses every example, stdlib module and
 * fixture the compiler accepts with it and compares its keywords with
 * `compiler/src/syntax/keywords.rs`. Regenerate `src/` after a change:
 * `tree-sitter generate` in this folder (see README.md).
 */

// The kinds of block item (`item_kind`).
const BLOCK_KINDS = [
  'cluster', 'fleet', 'service', 'daemon', 'job', 'model', 'device', 'runtime', 'serving', 'external',
];
// Words with a role somewhere that are still names elsewhere (a field
// `device = …`, a block `model { }`, a param's `min = 1`, `nodes = 3`).
const SOFT_WORDS = [
  ...BLOCK_KINDS, 'solution', 'import', 'param', 'template', 'secret', 'alert', 'for', 'as',
  'min', 'max', 'gateways', 'gateway', 'sites', 'site', 'nodes', 'node', 'replicas', 'replica',
];
const UNIT_WORDS = ['gateways', 'gateway', 'sites', 'site', 'nodes', 'node', 'replicas', 'replica'];

module.exports = grammar({
  name: 'iot',

  extras: $ => [/\s/, '\uFEFF', $.comment, $.doc_comment],

  word: $ => $.identifier,

  conflicts: $ => [
    // `x = 3` then `min = 1` on the next line, or `x = 3 min 1`: the word
    // after a value decides (pest: `bound_kw ~ !("=" | "(")`).
    [$.value],
    [$._name, $.unit_word],
    // `secret x from vault "…"` or a field named `secret = …`; the same
    // for `alert`.
    [$.secret, $._name],
    [$.alert, $._name],
    // `per gateways of plants` or `per (gateways of plants) gateways`.
    [$.per, $.count],
  ],

  rules: {
    source_file: $ => repeat($._item),

    _item: $ => choice($.solution, $.import, $.param, $.block_item),

    solution: $ => seq('solution', field('name', $._name), $.body),

    import: $ => seq('import', choice($.string, $.path)),

    param: $ => seq(
      'param',
      field('name', $._name),
      ':',
      field('type', $._name),
      optional(seq('=', field('default', seq(optional('-'), $._literal)))),
      optional($.body),
    ),

    block_item: $ => seq(
      optional('template'),
      field('kind', alias(choice(...BLOCK_KINDS), $.item_kind)),
      field('name', $._name),
      optional($.on_clause),
      optional($.where_clause),
      optional($.from_clause),
      $.body,
    ),

    on_clause: $ => seq('on', $.path),
    where_clause: $ => seq('where', $.selector, repeat(seq(choice(',', 'and'), $.selector))),
    selector: $ => seq(field('key', $._key), choice('!=', '='), $._literal),
    from_clause: $ => seq('from', $.path),

    body: $ => seq('{', repeat($._statement), '}'),

    _statement: $ => choice($.secret, $.device, $.alert, $.attribute, $.block),

    attribute: $ => seq(field('key', $._key), '=', field('value', $.value)),

    block: $ => seq(
      field('kind', $._name),
      optional(field('name', $._name)),
      optional($.on_clause),
      optional($.where_clause),
      $.body,
    ),

    secret: $ => seq(
      'secret',
      field('name', $._name),
      choice(seq('from', field('source', $._name), $.string), seq('=', $.value)),
    ),

    device: $ => prec.right(seq('device', $.string, optional(seq('as', $.string)))),

    alert: $ => prec.right(seq(
      'alert',
      field('metric', $._name),
      choice('<=', '>=', '==', '!=', '<', '>'),
      $.value,
      optional(seq('for', $.value)),
    )),

    _key: $ => choice($._name, $.string),

    // ------------------------------------------------------ expressions

    value: $ => seq($._expression, optional($.per), repeat($.bound)),

    per: $ => seq('per', optional($._primary), $.unit_word, optional($.of_clause)),
    of_clause: $ => seq('of', $.path),
    bound: $ => seq(choice('min', 'max'), $._expression),

    _expression: $ => choice($.binary, $.negation, $._primary),
    binary: $ => choice(
      prec.left(1, seq($._expression, choice('+', '-'), $._expression)),
      prec.left(2, seq($._expression, choice('*', '/'), $._expression)),
    ),
    negation: $ => prec(3, seq('-', $._primary)),

    _primary: $ => choice($.parenthesized, $.list, $._literal, $.call, $.count, $.object, $.path),
    parenthesized: $ => seq('(', $.value, ')'),
    call: $ => seq(
      field('function', alias(choice($.identifier, 'min', 'max'), $.identifier)),
      '(',
      optional(seq($.value, repeat(seq(',', $.value)), optional(','))),
      ')',
    ),
    count: $ => seq($.unit_word, $.of_clause),
    object: $ => seq($.path, $.body),
    list: $ => seq('[', optional(seq($.value, repeat(seq(',', $.value)), optional(','))), ']'),

    unit_word: _ => choice(...UNIT_WORDS),

    path: $ => prec.right(seq($._name, repeat(seq('.', $._name)))),

    _literal: $ => choice($.string, $.boolean, $.quantity),

    // ------------------------------------------------------------ tokens

    _name: $ => choice($.identifier, alias(choice(...SOFT_WORDS), $.identifier)),

    identifier: _ => /[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*/,

    boolean: _ => choice('true', 'false'),

    // 3, 0.5, 500m, 256Mi, 30s, 50%.
    quantity: _ => /[0-9]+(\.[0-9]+)?([A-Za-z%][A-Za-z0-9]*)?/,

    string: $ => seq(
      '"',
      repeat(choice(token.immediate(prec(1, /[^"\\\n\r]+/)), $.escape_sequence)),
      token.immediate('"'),
    ),
    escape_sequence: _ => token.immediate(seq('\\', choice(/u\{[0-9A-Fa-f]*\}/, /[^\n\r]/))),

    // `// …` and `//// …`; `/// …` is a doc comment.
    comment: _ => token(choice(
      seq('//', optional(seq(/[^/\n\r]/, /[^\n\r]*/))),
      prec(2, seq('////', /[^\n\r]*/)),
    )),
    doc_comment: _ => token(prec(1, seq('///', /[^\n\r]*/))),
  },
});
