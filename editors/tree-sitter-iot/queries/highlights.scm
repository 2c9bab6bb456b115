; Highlighting of the iotc language for tree-sitter editors. Capture names
; are Helix's theme scopes (https://docs.helix-editor.com/themes.html);
; `compiler/tests/tree_sitter.rs` checks this file against the grammar.

(comment) @comment
(doc_comment) @comment.block.documentation

(string) @string
(escape_sequence) @constant.character.escape
(quantity) @constant.numeric
(boolean) @constant.builtin.boolean

[
  "solution"
  "import"
  "param"
  "template"
  "secret"
  "device"
  "alert"
  "for"
  "as"
  "on"
  "where"
  "and"
  "from"
  "per"
  "of"
  "min"
  "max"
] @keyword

(item_kind) @keyword
(unit_word) @keyword

(solution name: (identifier) @namespace)
(block_item name: (identifier) @type)
(param name: (identifier) @variable.parameter)
(param type: (identifier) @type.builtin)
(block kind: (identifier) @keyword)
(block name: (identifier) @variable)
(attribute key: (identifier) @variable.other.member)
(selector key: (identifier) @variable.other.member)
(secret name: (identifier) @variable)
(alert metric: (identifier) @variable.other.member)
(call function: (identifier) @function.builtin)

[
  "="
  "!="
  "=="
  "<"
  "<="
  ">"
  ">="
  "+"
  "-"
  "*"
  "/"
] @operator

["{" "}" "[" "]" "(" ")"] @punctuation.bracket
["," "." ":"] @punctuation.delimiter
