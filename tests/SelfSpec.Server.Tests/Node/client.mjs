// Asks the server the same question with the npm openai client, whole and streamed, and prints both answers as JSON.
// Environment: SELFSPEC_BASE_URL (ending in /v1) and SELFSPEC_API_KEY.
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.SELFSPEC_BASE_URL, apiKey: process.env.SELFSPEC_API_KEY });
const request = {
  model: "smol",
  messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "What is 2+2?" }],
  temperature: 0,
  max_tokens: 24,
};

const whole = await client.chat.completions.create(request);
let streamed = "";
let usage = null;
let finish = null;
const stream = await client.chat.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
for await (const chunk of stream) {
  if (chunk.choices.length > 0) {
    streamed += chunk.choices[0].delta.content ?? "";
    finish = chunk.choices[0].finish_reason ?? finish;
  }
  if (chunk.usage) usage = chunk.usage;
}
let refused = null;
try {
  await client.chat.completions.create({ ...request, n: 2 });
} catch (e) {
  refused = { status: e.status, param: e.param ?? null };
}
console.log(JSON.stringify({
  text: whole.choices[0].message.content,
  finish: whole.choices[0].finish_reason,
  completion_tokens: whole.usage.completion_tokens,
  streamed, stream_finish: finish, stream_usage: usage, refused,
}));
