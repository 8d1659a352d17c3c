import { defineConfig, type Plugin } from "vite";

/**
 * `npm run dev` serves the console with hot reload against a running `make run` stack; the
 * local stack itself serves the built files (console/dist) and this same config.json.
 */
function localConfig(): Plugin {
  const upload = process.env.UPLOAD_URL ?? `http://127.0.0.1:${process.env.UPLOAD_PORT ?? 8001}`;
  const query = process.env.QUERY_URL ?? `http://127.0.0.1:${process.env.QUERY_PORT ?? 8002}`;
  const body = JSON.stringify({
    uploadApi: upload,
    queryApi: query,
    streamApi: query,
    auth: { mode: process.env.AUTH_MODE && process.env.AUTH_MODE !== "none" ? "token" : "none" },
    environment: "vite dev",
  });
  return {
    name: "docpipe-local-config",
    configureServer(server) {
      server.middlewares.use("/config.json", (_request, response) => {
        response.setHeader("Content-Type", "application/json");
        response.end(body);
      });
    },
  };
}

export default defineConfig({
  plugins: [localConfig()],
  build: {
    target: "es2022",
    // No data: URIs: the CSP admits images and fonts from the console's own origin only.
    assetsInlineLimit: 0,
    reportCompressedSize: true,
  },
  server: { port: 5173, strictPort: true },
});
