// A thin client: it starts `iotc lsp` (path from the `iotc.path` setting)
// and lets vscode-languageclient do the rest. Every feature lives in the
// server, so Neovim and Helix get the same ones.

import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
} from "vscode-languageclient/node";

let client: LanguageClient | undefined;

function serverOptions(): ServerOptions {
  const path = vscode.workspace.getConfiguration("iotc").get<string>("path") || "iotc";
  return { command: path, args: ["lsp"] };
}

async function start(context: vscode.ExtensionContext): Promise<void> {
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ language: "iot" }],
    outputChannelName: "iotc",
  };
  client = new LanguageClient("iotc", "iotc language server", serverOptions(), clientOptions);
  try {
    await client.start();
  } catch (err) {
    const path = vscode.workspace.getConfiguration("iotc").get<string>("path") || "iotc";
    void vscode.window.showErrorMessage(
      `Could not start \`${path} lsp\`: ${String(err)}. Set \`iotc.path\` to the iotc binary.`,
    );
  }
  context.subscriptions.push({ dispose: () => void client?.stop() });
}

/** The commands that run `iotc` on the active .iot file in a task. */
const RUN_COMMANDS: { id: string; args: (file: string, out: string) => string[] }[] = [
  { id: "check", args: (file) => ["check", "--color", "never", file] },
  { id: "plan", args: (file) => ["plan", "--color", "never", file] },
  { id: "diff", args: (file, out) => ["diff", "--color", "never", file, "-o", out] },
  { id: "build", args: (file, out) => ["build", "--color", "never", file, "-o", out] },
  { id: "studio", args: (file) => ["studio", file] },
];

async function runIotc(id: string, args: (file: string, out: string) => string[]): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== "iot") {
    void vscode.window.showWarningMessage(`iotc ${id}: open a .iot file first`);
    return;
  }
  await editor.document.save();
  const config = vscode.workspace.getConfiguration("iotc");
  const path = config.get<string>("path") || "iotc";
  const folder = vscode.workspace.getWorkspaceFolder(editor.document.uri);
  const file = folder ? vscode.workspace.asRelativePath(editor.document.uri, false) : editor.document.uri.fsPath;
  const out = config.get<string>("outDir") || "out";
  const task = new vscode.Task(
    { type: "iotc", command: id, file },
    folder ?? vscode.TaskScope.Workspace,
    `${id} ${file}`,
    "iotc",
    new vscode.ProcessExecution(path, args(file, out), folder ? { cwd: folder.uri.fsPath } : undefined),
    ["$iotc-error", "$iotc-warning"],
  );
  await vscode.tasks.executeTask(task);
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  for (const c of RUN_COMMANDS) {
    context.subscriptions.push(vscode.commands.registerCommand(`iotc.${c.id}`, () => runIotc(c.id, c.args)));
  }
  context.subscriptions.push(
    vscode.commands.registerCommand("iotc.restartServer", async () => {
      await client?.stop();
      await start(context);
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration("iotc.path")) {
        await client?.stop();
        await start(context);
      }
    }),
  );
  await start(context);
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
