// pm2 apps for the proof-of-inference subnet: `pm2 start ecosystem.config.js --only miner`
// (or --only validator). Settings come from environment variables; the defaults
// below suit finney, netuid 2. See docs/pm2.md.
const path = require("path");

const env = (name, fallback) => process.env[name] || fallback;
const root = __dirname;
const python = env("PYTHON", path.join(root, ".venv", "bin", "python"));

function common(prefix) {
  const args = [
    "--netuid", env("NETUID", "2"),
    "--subtensor.network", env("NETWORK", "finney"),
    "--wallet.name", env(`${prefix}_WALLET`, "default"),
    "--wallet.hotkey", env(`${prefix}_HOTKEY`, "default"),
  ];
  if (process.env.WALLET_PATH) args.push("--wallet.path", process.env.WALLET_PATH);
  if (process.env.DEVNET_STATE) args.push("--subtensor.devnet_state", process.env.DEVNET_STATE);
  if (process.env.KEY_CACHE) args.push("--keys.cache", process.env.KEY_CACHE);
  if (process.env[`${prefix}_METRICS_PORT`]) args.push("--metrics.port", process.env[`${prefix}_METRICS_PORT`]);
  if (process.env[`${prefix}_METRICS_ADDR`]) args.push("--metrics.addr", process.env[`${prefix}_METRICS_ADDR`]);
  if (process.env.WANDB_ON === "1") args.push("--wandb.on");
  if (process.env.LOGGING_DEBUG === "1") args.push("--logging.debug");
  return args;
}

function minerArgs() {
  const args = common("MINER").concat(["--axon.port", env("AXON_PORT", "8091")]);
  if (process.env.AXON_EXTERNAL_IP) args.push("--axon.external_ip", process.env.AXON_EXTERNAL_IP);
  return args.concat((process.env.MINER_EXTRA_ARGS || "").split(" ").filter(Boolean));
}

function validatorArgs() {
  return common("VALIDATOR").concat((process.env.VALIDATOR_EXTRA_ARGS || "").split(" ").filter(Boolean));
}

const daemon = {
  cwd: root,
  interpreter: python,
  autorestart: true,
  max_restarts: 50,
  min_uptime: "60s",
  exp_backoff_restart_delay: 1000, // 1 s, doubling, so a crash loop does not hammer the chain
  kill_timeout: 30000, // SIGINT first; 30 s lets a proof finish and state be written
  time: false, // our log lines carry their own UTC timestamp
};

module.exports = {
  apps: [
    { ...daemon, name: env("MINER_NAME", "miner"), script: "neurons/miner.py", args: minerArgs() },
    { ...daemon, name: env("VALIDATOR_NAME", "validator"), script: "neurons/validator.py", args: validatorArgs() },
  ],
};
