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

export async function activate(context: vscode.ExtensionContext): Promise<void> {
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
