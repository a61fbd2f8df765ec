import Foundation
import Testing
import Tokenization

/// ChatML rendering, checked against the model's own template as rendered by llama.cpp.
@Suite struct ChatTemplateTests {
    @Test func smolLMTemplateAddsItsDefaultSystemMessage() throws {
        let tokenizer = try TestSupport.modelTokenizer()
        let file = TestSupport.goldenDirectory.appendingPathComponent("tokenize/06_chat_template_raw.json")
        let golden = try JSONDecoder().decode(GoldenTokenizationTests.GoldenCase.self, from: Data(contentsOf: file))
        let prompt = tokenizer.applyChatML(messages: [.user("What is the boiling point of water?")], addGenerationPrompt: true)
        #expect(prompt == golden.text)
        #expect(tokenizer.encode(prompt, addSpecial: true, parseSpecial: true) == golden.ids)
        let tuples = tokenizer.applyChatML(messages: [(role: "user", content: "What is the boiling point of water?")],
                                           addGenerationPrompt: true)
        #expect(tuples == prompt)
    }

    @Test func givenSystemMessageReplacesTheDefault() throws {
        let tokenizer = try TestSupport.modelTokenizer()
        let prompt = tokenizer.applyChatML(
            messages: [.system("Be brief."), .user("Hi"), .assistant("Hello!"), .user("Bye")], addGenerationPrompt: false)
        #expect(prompt == """
            <|im_start|>system
            Be brief.<|im_end|>
            <|im_start|>user
            Hi<|im_end|>
            <|im_start|>assistant
            Hello!<|im_end|>
            <|im_start|>user
            Bye<|im_end|>

            """)
    }

    @Test func plainChatMLWithoutTemplate() {
        let template = ChatTemplate(source: nil)
        #expect(template.defaultSystemMessage == nil)
        #expect(template.render([.user("Hi")], addGenerationPrompt: true)
            == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        #expect(template.render([], addGenerationPrompt: true) == "<|im_start|>assistant\n")
        #expect(ChatTemplate(source: "{% for m in messages %}…{% endfor %}").defaultSystemMessage == nil)
    }

    @Test func smolLMDefaultSystemMessageIsReadFromTheTemplate() throws {
        let tokenizer = try TestSupport.modelTokenizer()
        let template = ChatTemplate(source: tokenizer.chatTemplate)
        #expect(template.defaultSystemMessage == "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        // An empty conversation has no first message, so the template adds no system message.
        #expect(template.render([], addGenerationPrompt: false) == "")
    }
}
