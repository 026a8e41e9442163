// Enqueues from application code, typed by the same task definitions the
// daemon runs: `node enqueue.ts ada@example.com "water the plants"`.
import { createClient } from "pgmill";
import sendReminder from "./tasks/send-reminder.ts";

const [to = "", message = ""] = process.argv.slice(2);
const connectionString = process.env.DATABASE_URL;
if (!connectionString) throw new Error("set DATABASE_URL");

const client = await createClient({ connectionString, tasks: [sendReminder] });
try {
  const job = await client.addJob("send-reminder", { to, message });
  console.log(JSON.stringify(job));
} finally {
  await client.close();
}
