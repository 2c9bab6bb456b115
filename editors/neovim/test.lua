-- Headless test of editors/neovim/iotc.lua (run by .ci/neovim-test):
--
--   nvim --headless -u NONE -i NONE -c "luafile editors/neovim/test.lua"
--
-- 1. With the Neovim that runs it: on 0.10+ setup() succeeds and opening an
--    example starts `iotc lsp` (the binary on PATH); on older releases it
--    returns false with a clear ERROR message and defines nothing.
-- 2. With vim.version and the LSP functions stubbed: the 0.11 path uses
--    vim.lsp.config + vim.lsp.enable, the 0.10 path vim.lsp.start from a
--    FileType autocommand, and 0.9 gets the message.
-- Exits 0 when every check passes, 1 otherwise (the failures are printed).

local failures = {}
local function check(cond, what)
  if not cond then
    table.insert(failures, what)
  end
end

local here = debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "./"
package.path = here .. "?.lua;" .. package.path

local function fresh()
  package.loaded["iotc"] = nil
  return require("iotc")
end

-- Capture notifications.
local notes = {}
local real_notify = vim.notify
vim.notify = function(msg, level)
  table.insert(notes, { msg = msg, level = level })
end

local v = vim.version()
local running = string.format("%d.%d.%d", v.major, v.minor, v.patch)
print("testing with Neovim " .. running)

local ran, err = pcall(function()
-- 1. The real thing. `-u NONE` leaves filetype detection off; every
-- user's Neovim has it on (the default with any init file).
do
  vim.cmd("filetype plugin on")
  notes = {}
  local iotc = fresh()
  local ok = iotc.setup()
  if iotc.at_least(0, 10) then
    check(ok == true, "setup() succeeds on " .. running)
    check(#notes == 0, "no message on " .. running)
    vim.cmd("edit " .. here .. "../../examples/factory/factory.iot")
    check(vim.bo.filetype == "iot", "*.iot is filetype iot")
    check(vim.bo.commentstring == "// %s", "// comments")
    local get = vim.lsp.get_clients or vim.lsp.get_active_clients
    local started = vim.wait(10000, function()
      return #get({ name = "iotc" }) > 0
    end, 50)
    check(started, "iotc lsp starts for a .iot buffer")
    local client = get({ name = "iotc" })[1]
    check(
      client ~= nil and client.server_capabilities.semanticTokensProvider ~= nil,
      "semantic tokens stay on (highlighting)"
    )
  else
    check(ok == false, "setup() refuses " .. running)
    check(#notes == 1, "one message on " .. running)
    local n = notes[1] or { msg = "" }
    check(n.level == vim.log.levels.ERROR, "the message is an error")
    check(n.msg:find("too old", 1, true) ~= nil, "the message says the release is too old: " .. n.msg)
    check(n.msg:find("0.10", 1, true) ~= nil, "the message names the release needed: " .. n.msg)
    check(#vim.api.nvim_get_autocmds({ group = nil, event = "FileType", pattern = "iot" }) == 0, "nothing defined")
  end
end

-- 2. Each supported release's path, with the APIs it calls stubbed.
local function simulate(major, minor)
  local saved = {
    version = vim.version,
    lsp = vim.lsp,
    filetype_add = vim.filetype.add,
    fs = vim.fs,
    create_autocmd = vim.api.nvim_create_autocmd,
    create_augroup = vim.api.nvim_create_augroup,
  }
  local calls = { config = nil, enable = nil, start = nil, autocmds = {}, filetypes = nil }
  vim.version = function()
    return { major = major, minor = minor, patch = 0 }
  end
  vim.lsp = {
    config = function(name, cfg)
      calls.config = { name = name, cfg = cfg }
    end,
    enable = function(name)
      calls.enable = name
    end,
    start = function(cfg, o)
      calls.start = { cfg = cfg, opts = o }
      return 1
    end,
    inlay_hint = { enable = function() end },
  }
  vim.filetype.add = function(spec)
    calls.filetypes = spec
  end
  vim.fs = {
    root = function()
      return "/project"
    end,
    dirname = function()
      return "/project"
    end,
  }
  vim.api.nvim_create_augroup = function()
    return 1
  end
  vim.api.nvim_create_autocmd = function(event, o)
    table.insert(calls.autocmds, { event = event, opts = o })
    return #calls.autocmds
  end
  notes = {}
  local ok = fresh().setup({ cmd = { "/opt/iotc", "lsp" } })
  -- Fire every FileType callback as for a .iot buffer.
  local bo = {}
  local real_bo = vim.bo
  vim.bo = setmetatable({}, {
    __index = function(_, k)
      if type(k) == "number" then
        bo[k] = bo[k] or {}
        return bo[k]
      end
      return real_bo[k]
    end,
  })
  local buf = vim.api.nvim_get_current_buf()
  for _, a in ipairs(calls.autocmds) do
    a.opts.callback({ buf = buf })
  end
  vim.bo = real_bo
  vim.version = saved.version
  vim.lsp = saved.lsp
  vim.filetype.add = saved.filetype_add
  vim.fs = saved.fs
  vim.api.nvim_create_autocmd = saved.create_autocmd
  vim.api.nvim_create_augroup = saved.create_augroup
  return ok, calls, bo[buf] or {}
end

do
  local ok, calls, bo = simulate(0, 11)
  check(ok == true, "0.11: setup() succeeds")
  check(calls.config and calls.config.name == "iotc", "0.11: vim.lsp.config('iotc', …)")
  check(calls.config and calls.config.cfg.cmd[1] == "/opt/iotc", "0.11: the configured command")
  check(calls.config and calls.config.cfg.filetypes[1] == "iot", "0.11: for filetype iot")
  check(calls.enable == "iotc", "0.11: vim.lsp.enable('iotc')")
  check(calls.start == nil, "0.11: no vim.lsp.start")
  check(calls.filetypes and calls.filetypes.extension.iot == "iot", "0.11: *.iot filetype")
  check(bo.commentstring == "// %s", "0.11: // comments")
  -- on_attach keeps the server's semantic tokens unless told otherwise.
  local client = { server_capabilities = { semanticTokensProvider = { full = true } } }
  vim.lsp.inlay_hint = vim.lsp.inlay_hint or { enable = function() end }
  calls.config.cfg.on_attach(client, 0)
  check(client.server_capabilities.semanticTokensProvider ~= nil, "0.11: semantic tokens kept by default")
  local off = { server_capabilities = { semanticTokensProvider = { full = true } } }
  fresh().on_attach({ semantic_tokens = false, inlay_hints = false })(off, 0)
  check(off.server_capabilities.semanticTokensProvider == nil, "semantic_tokens = false turns them off")
end

do
  local ok, calls, bo = simulate(0, 10)
  check(ok == true, "0.10: setup() succeeds")
  check(calls.config == nil and calls.enable == nil, "0.10: no vim.lsp.config/enable")
  check(calls.start and calls.start.cfg.name == "iotc", "0.10: vim.lsp.start from FileType")
  check(calls.start and calls.start.cfg.root_dir == "/project", "0.10: root from vim.fs.root")
  check(calls.start and calls.start.opts.bufnr == vim.api.nvim_get_current_buf(), "0.10: for the buffer")
  check(bo.commentstring == "// %s", "0.10: // comments")
end

do
  local ok, calls = simulate(0, 9)
  check(ok == false, "0.9: setup() refuses")
  check(#calls.autocmds == 0 and calls.start == nil, "0.9: nothing defined")
  check(#notes == 1 and notes[1].msg:find("Neovim 0.9 is too old", 1, true) ~= nil, "0.9: a clear message")
end

end)
check(ran, "the test ran to the end: " .. tostring(err))

vim.notify = real_notify
if #failures == 0 then
  print("neovim config: all checks passed (" .. running .. ", simulated 0.11, 0.10, 0.9)")
  vim.cmd("qall!")
else
  for _, f in ipairs(failures) do
    print("FAILED: " .. f)
  end
  vim.cmd("cquit 1")
end
