// The Vercel AI SDK's default OpenAI provider (`openai(model)` = the Responses API) against the
// adapter, driven by tests/e2e/test_responses_vercel.py.
//
// Usage: node vercel_ai.mjs <generate|stream|tool|tool-stream>   (env BASE_URL, API_KEY, MODEL)
// Prints one JSON object: what the SDK returned, and `requests`, the method and path of every HTTP
// request the provider made.
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, stepCountIs, streamText, tool } from "ai";
import { z } from "zod";

const requests = [];
const openai = createOpenAI({
  baseURL: process.env.BASE_URL,
  apiKey: process.env.API_KEY,
  fetch: async (url, init) => {
    requests.push(`${init?.method ?? "GET"} ${new URL(url).pathname}`);
    return fetch(url, init);
  },
});
const model = openai(process.env.MODEL);

const toolRuns = [];
const tools = {
  get_weather: tool({
    description: "Current weather in a city",
    inputSchema: z.object({ city: z.string() }),
    execute: async ({ city }) => {
      toolRuns.push(city);
      return `+5°C in ${city}`;
    },
  }),
};
const toolPrompt = 'Weather in Paris? call:get_weather args:{"city": "Paris"}';

function steps(result) {
  return result.steps.map((step) => ({
    finishReason: step.finishReason,
    text: step.text,
    toolCalls: step.toolCalls.map((c) => ({ toolName: c.toolName, input: c.input })),
    toolResults: step.toolResults.map((r) => ({ toolName: r.toolName, output: r.output })),
    responseId: step.response.id,
  }));
}

async function main(mode) {
  switch (mode) {
    case "generate": {
      const result = await generateText({ model, prompt: "Привет! Как дела?", maxRetries: 0 });
      return { text: result.text, finishReason: result.finishReason, usage: result.usage, responseId: result.response.id };
    }
    case "stream": {
      const result = streamText({ model, prompt: "Привет! Как дела?", maxRetries: 0 });
      const deltas = [];
      for await (const delta of result.textStream) deltas.push(delta);
      return {
        deltas,
        text: await result.text,
        finishReason: await result.finishReason,
        usage: await result.usage,
        responseId: (await result.response).id,
      };
    }
    case "tool": {
      const result = await generateText({ model, prompt: toolPrompt, tools, stopWhen: stepCountIs(3), maxRetries: 0 });
      return { text: result.text, finishReason: result.finishReason, steps: steps(result), toolRuns };
    }
    case "tool-stream": {
      const result = streamText({ model, prompt: toolPrompt, tools, stopWhen: stepCountIs(3), maxRetries: 0 });
      const parts = [];
      for await (const part of result.fullStream) {
        if (part.type === "error") throw part.error;
        parts.push(part.type);
      }
      return { text: await result.text, finishReason: await result.finishReason, parts, toolRuns };
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

try {
  const out = await main(process.argv[2]);
  process.stdout.write(JSON.stringify({ ...out, requests }) + "\n");
} catch (error) {
  process.stderr.write(`${error?.stack ?? error}\n${JSON.stringify({ requests, data: error?.responseBody ?? null })}\n`);
  process.exit(1);
}
