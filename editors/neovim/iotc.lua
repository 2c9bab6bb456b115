-- iotc for Neovim: filetype detection and the `iotc lsp` client.
--
-- Neovim 0.11+ : registered with vim.lsp.config("iotc", …) and started with
--                vim.lsp.enable("iotc").
-- Neovim 0.10  : started with vim.lsp.start() from a FileType autocommand.
-- Older        : not supported; setup() says so (vim.notify, ERROR level)
--                and does nothing else.
--
-- Put this file on your runtimepath (e.g. ~/.config/nvim/lua/iotc.lua) and
-- call `require("iotc").setup()` from init.lua. Options:
--   cmd  = { "iotc", "lsp" }      -- the server command (a full path works)
--   inlay_hints = true            -- show evaluated linked counts inline
--   semantic_tokens = true        -- highlighting from the server (the only
--                                 -- highlighting .iot files have in Neovim)
--
-- Highlighting: the server sends semantic tokens (keywords, workloads,
-- params, fields, strings, numbers, comments, operators; declarations and
-- stdlib names as modifiers). Neovim 0.9+ applies them by default through
-- the @lsp.type.<type> and @lsp.mod.<modifier> highlight groups; this file
-- never turns them off unless `semantic_tokens = false`.

local M = {}

--- The running Neovim as { major, minor }.
local function version()
  local v = vim.version and vim.version() or nil
  if type(v) == "table" then
    return v.major or v[1] or 0, v.minor or v[2] or 0
  end
  return 0, 0
end

--- Whether this Neovim is at least major.minor.
local function at_least(major, minor)
  local ma, mi = version()
  return ma > major or (ma == major and mi >= minor)
end

M.at_least = at_least

local function root_of(buf)
  local name = vim.api.nvim_buf_get_name(buf)
  return vim.fs.root(buf, { ".git", "Cargo.toml" }) or vim.fs.dirname(name)
end

local function on_attach(opts)
  return function(client, bufnr)
    if opts.inlay_hints ~= false and vim.lsp.inlay_hint then
      vim.lsp.inlay_hint.enable(true, { bufnr = bufnr })
    end
    if opts.semantic_tokens == false and client and client.server_capabilities then
      client.server_capabilities.semanticTokensProvider = nil
    end
  end
end

M.on_attach = on_attach

function M.setup(opts)
  opts = opts or {}
  if not at_least(0, 10) then
    local ma, mi = version()
    vim.notify(
      string.format(
        "iotc: Neovim %d.%d is too old; the iotc configuration needs Neovim 0.10 or newer (0.11+ recommended). Nothing was set up.",
        ma,
        mi
      ),
      vim.log.levels.ERROR
    )
    return false
  end
  local cmd = opts.cmd or { "iotc", "lsp" }

  vim.filetype.add({ extension = { iot = "iot" } })
  local group = vim.api.nvim_create_augroup("iotc", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    pattern = "iot",
    group = group,
    callback = function(args)
      vim.bo[args.buf].commentstring = "// %s"
    end,
  })

  if at_least(0, 11) then
    vim.lsp.config("iotc", {
      cmd = cmd,
      filetypes = { "iot" },
      root_markers = { ".git", "Cargo.toml" },
      on_attach = on_attach(opts),
    })
    vim.lsp.enable("iotc")
    return true
  end

  -- 0.10: start (or reuse) a client for every .iot buffer.
  vim.api.nvim_create_autocmd("FileType", {
    pattern = "iot",
    group = group,
    callback = function(args)
      vim.lsp.start({
        name = "iotc",
        cmd = cmd,
        root_dir = root_of(args.buf),
        on_attach = on_attach(opts),
      }, { bufnr = args.buf })
    end,
  })
  return true
end

return M
