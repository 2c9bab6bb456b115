-- iotc for Neovim (0.10+): filetype detection and the `iotc lsp` client.
--
-- Put this file on your runtimepath (e.g. ~/.config/nvim/lua/iotc.lua) and
-- call `require("iotc").setup()` from init.lua. Options:
--   cmd  = { "iotc", "lsp" }      -- the server command (a full path works)
--   inlay_hints = true            -- show evaluated linked counts inline

local M = {}

function M.setup(opts)
  opts = opts or {}
  local cmd = opts.cmd or { "iotc", "lsp" }

  vim.filetype.add({ extension = { iot = "iot" } })

  vim.api.nvim_create_autocmd("FileType", {
    pattern = "iot",
    group = vim.api.nvim_create_augroup("iotc", { clear = true }),
    callback = function(args)
      vim.bo[args.buf].commentstring = "// %s"
      local root = vim.fs.root(args.buf, { ".git", "Cargo.toml" })
        or vim.fs.dirname(vim.api.nvim_buf_get_name(args.buf))
      local client_id = vim.lsp.start({
        name = "iotc",
        cmd = cmd,
        root_dir = root,
      })
      if client_id and opts.inlay_hints ~= false and vim.lsp.inlay_hint then
        vim.lsp.inlay_hint.enable(true, { bufnr = args.buf })
      end
    end,
  })
end

return M
