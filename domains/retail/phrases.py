"""The words of the generated retail conversations (`domains.retail.dialogues`): for each move,
several English and Chinese templates; the generator picks one at random (seeded).

Agent templates follow the retail policy (tau-bench, MIT): verify identity first, state what an
action will do and ask for a yes before it, say what was done only once it is done, and refuse
clearly, with the reason and what can be done instead.
"""

from __future__ import annotations

# key -> language -> templates; {slots} are filled by the generator
P: dict[str, dict[str, tuple[str, ...]]] = {
    # ------------------------------------------------------------ customer
    "greet": {
        "en": ("Hi.", "Hello there.", "Good morning!", "Hey, is anyone there?"),
        "zh": ("你好", "您好", "在吗？", "你好，请问有人吗"),
    },
    "open_status": {
        "en": ("Where is my order?", "I'd like to check on an order.", "Can you tell me the status of my order?", "Has my order shipped yet?", "I'm still waiting for a package, what's going on with it?"),
        "zh": ("我的订单到哪了？", "帮我查一下订单状态", "我想问下我的订单发货了没有", "我的包裹怎么还没到？", "能帮我看看订单现在什么情况吗"),
    },
    "open_cancel": {
        "en": ("I want to cancel an order.", "Please cancel one of my orders.", "I need to cancel something I ordered.", "Can I still cancel my order?"),
        "zh": ("我要取消订单", "帮我把一个订单取消掉", "我想取消一个订单", "订单还能取消吗？"),
    },
    "open_return": {
        "en": ("I'd like to return some items.", "I want to send something back.", "How do I return an item from my order?", "I need to make a return."),
        "zh": ("我想退货", "我要退一件商品", "订单里的东西我想退掉", "怎么申请退货？"),
    },
    "open_exchange": {
        "en": ("I'd like to exchange an item.", "Can I swap something I bought for a different size or color?", "I need to exchange part of my order."),
        "zh": ("我想换货", "买的东西能换个颜色或尺码吗？", "我要换一件商品"),
    },
    "open_address": {
        "en": ("I need to change the shipping address on my order.", "Can you ship my order to a different address?", "I moved, can I update where my order goes?"),
        "zh": ("我要改一下订单的收货地址", "订单能寄到别的地址吗？", "我搬家了，想改订单的收货地址"),
    },
    "open_default_address": {
        "en": ("I'd like to update the default address on my account.", "Please change my account address, I moved."),
        "zh": ("我想修改账户的默认地址", "我搬家了，帮我改一下账户地址"),
    },
    "open_discount": {
        "en": ("My last order took forever. I want a discount on my next purchase.", "I think I deserve a coupon for all this trouble.", "Give me 30% off, your delivery was way too slow."),
        "zh": ("上次的订单等了好久，下次给我打个折吧", "折腾了这么久，你们应该补偿我一张优惠券", "你们发货太慢了，给我打七折"),
    },
    "open_human": {
        "en": ("Can I talk to a real person?", "I'd like to speak to a human agent.", "Get me a human, please."),
        "zh": ("我要转人工", "请帮我转人工客服", "能让真人客服跟我说吗？"),
    },
    "give_email": {
        "en": ("My email is {email}.", "It's {email}.", "{email}", "Sure, it's {email}."),
        "zh": ("我的邮箱是 {email}", "邮箱：{email}", "{email}", "好的，邮箱是 {email}"),
    },
    "give_name_zip": {
        "en": ("My name is {first} {last} and my zip code is {zip}.", "I'm {first} {last}, zip code {zip}.", "{first} {last}, zip code {zip}."),
        "zh": ("我叫 {first} {last}，邮编 {zip}", "姓名 {first} {last}，邮编是 {zip}", "{first} {last}，邮编 {zip}"),
    },
    "give_order": {
        "en": ("It's order {order_id}.", "Order number {order_id}.", "{order_id}", "The order is {order_id}."),
        "zh": ("订单号是 {order_id}", "订单 {order_id}", "{order_id}", "是这个订单：{order_id}"),
    },
    "no_order_id": {
        "en": ("I don't have the order number handy.", "I'm not sure what the number is.", "I can't find the order number."),
        "zh": ("我不记得订单号了", "订单号我找不到了", "我不知道订单号"),
    },
    "screenshot": {
        "en": ("Here's a screenshot of the order.", "This one, see the screenshot.", "I've attached a screenshot of it."),
        "zh": ("订单截图在这里", "就是截图里这个订单", "我发个截图给你"),
    },
    "reason_no longer needed": {
        "en": ("I don't need it anymore.", "I no longer need it.", "I changed my mind, I don't need it."),
        "zh": ("不需要了", "我现在用不上了", "不想要了"),
    },
    "reason_ordered by mistake": {
        "en": ("I ordered it by mistake.", "It was a mistake, I clicked the wrong thing.", "I ordered the wrong thing."),
        "zh": ("我买错了", "下错单了", "不小心下的单"),
    },
    "yes": {
        "en": ("Yes, please go ahead.", "Yes.", "Yes, that's right.", "Correct, go ahead.", "Yep, do it."),
        "zh": ("是的", "确认", "好的，办理吧", "对，确认", "可以，就这样"),
    },
    "yes_all": {
        "en": ("Yes, that's everything. Go ahead.", "Yes, that's all of them, please proceed."),
        "zh": ("对，就这些，确认办理", "是的，就这些"),
    },
    "no": {
        "en": ("No, wait, don't do that.", "Actually, no. Leave it as it is.", "Hmm, no, not yet."),
        "zh": ("不用了，先别改", "算了，不要了", "等一下，先不要办理"),
    },
    "thanks_bye": {
        "en": ("That's all, thanks!", "No, that's everything. Thank you.", "Great, thanks for your help.", "Nope, that's it. Bye!"),
        "zh": ("没有了，谢谢", "好的，谢谢你", "就这些，谢谢", "没事了，再见"),
    },
    "return_all": {
        "en": ("All of the items, please.", "Everything in that order.", "All of them."),
        "zh": ("全部都退", "所有商品都退", "整单都退"),
    },
    "return_some": {
        "en": ("Just the {items}.", "Only the {items}.", "The {items}, please."),
        "zh": ("只退{items}", "就退{items}", "退{items}就行"),
    },
    "refund_original": {
        "en": ("Back to the original payment method, please.", "The original payment method is fine."),
        "zh": ("原路退回就好", "退回原来的支付方式吧"),
    },
    "refund_gift": {
        "en": ("Put it on my gift card.", "The gift card, please."),
        "zh": ("退到礼品卡吧", "退到礼品卡"),
    },
    "exchange_item": {
        "en": ("I'd like to swap the {product} ({old}) for the {new} one.", "Can I exchange the {product} for the {new} version?", "The {product}, please. I want {new} instead of {old}."),
        "zh": ("我想把{product}（{old}）换成{new}的", "{product}换成{new}的", "换{product}，要{new}，不要{old}"),
    },
    "pick_method": {
        "en": ("Use {method}.", "Please use {method}.", "{method}, please."),
        "zh": ("用{method}吧", "就用{method}", "{method}"),
    },
    "give_address": {
        "en": ("The new address is {address}.", "Please ship it to {address}.", "{address}"),
        "zh": ("新地址是 {address}", "寄到 {address}", "地址改成 {address}"),
    },
    "friend_insists": {
        "en": ("It's my friend's order, she said it's fine.", "Please just do it, my brother asked me to."),
        "zh": ("这是我朋友的订单，他同意了，请直接办", "是我家人的订单，他让我来办的"),
    },
    "discount_insist": {
        "en": ("Seriously? Then let me talk to someone who can.", "That's not good enough. I want to speak to a manager."),
        "zh": ("那让能做主的人来跟我说", "这样不行，我要找你们主管"),
    },
    "discount_accept": {
        "en": ("Fine. That's all then.", "Okay, never mind. Thanks anyway."),
        "zh": ("好吧，那算了", "行吧，没别的事了"),
    },
    "still_human": {
        "en": ("No, I'd really rather talk to a person.", "Just a human, please."),
        "zh": ("不用，我就要人工", "还是转人工吧"),
    },
    # ------------------------------------------------------------ agent
    "greet_back": {
        "en": ("Hello! How can I help you today?", "Hi, thanks for reaching out. What can I do for you?", "Hello! What can I help you with?"),
        "zh": ("您好！请问有什么可以帮您？", "您好，很高兴为您服务。请问需要什么帮助？", "您好！请问您遇到了什么问题？"),
    },
    "ask_auth": {
        "en": ("I can help with that. First, could you give me the email address on your account, or your full name and zip code?", "Sure. To verify your identity, please share your account email, or your name and zip code.", "Happy to help. Before I look at anything, I need to verify who you are: what's the email on your account, or your full name and zip code?"),
        "zh": ("可以的。请先提供您账户的邮箱，或者您的姓名和邮编，以便核实身份。", "好的。为了核实您的身份，请告诉我账户邮箱，或姓名和邮编。", "没问题。在查看之前需要先核实身份：请提供账户邮箱，或者您的姓名和邮编。"),
    },
    "ask_auth_transfer": {
        "en": ("Of course. So that my colleague has your account in front of them, could you give me your email, or your full name and zip code?", "Sure. Before I transfer you, I need to verify your identity: what's the email on your account, or your name and zip code?"),
        "zh": ("好的。为了让同事能直接看到您的账户，请提供您的邮箱，或者姓名和邮编。", "可以。转接之前需要先核实身份：请告诉我账户邮箱，或姓名和邮编。"),
    },
    "auth_failed": {
        "en": ("I couldn't find an account with that email. Could you check it, or give me your full name and zip code instead?", "Sorry, no account matches that email. Could you double-check it, or tell me your name and zip code?"),
        "zh": ("没有找到该邮箱对应的账户。请核对一下，或提供您的姓名和邮编。", "抱歉，这个邮箱没有对应的账户。请再确认一下，或者告诉我您的姓名和邮编。"),
    },
    "authed": {
        "en": ("Thanks, {first}, I've found your account.", "Thank you, {first}. Your identity is verified.", "Got it, {first}, I have your account here."),
        "zh": ("谢谢您，{first}，已找到您的账户。", "好的，{first}，身份已核实。", "谢谢，{first}，已经查到您的账户。"),
    },
    "ask_order": {
        "en": ("Which order is it about? Please give me the order number; it looks like #W1234567.", "What's the order number?", "Which order do you mean? The order number starts with #W."),
        "zh": ("请问是哪个订单？请提供订单号（格式如 #W1234567）。", "请问订单号是多少？", "是哪一个订单呢？订单号以 #W 开头。"),
    },
    "list_orders": {
        "en": ("I see these orders on your account: {orders}. Which one do you mean?", "No problem, here are your orders: {orders}. Which one is it?"),
        "zh": ("您的账户下有这些订单：{orders}。请问是哪一个？", "没关系，您的订单有：{orders}。是哪一个呢？"),
    },
    "status_pending": {
        "en": ("Order {order_id} is pending: it hasn't shipped yet, so there's no tracking number yet. It contains {items}.", "Order {order_id} hasn't shipped yet; it's still pending, so there's no tracking number. Items: {items}."),
        "zh": ("订单 {order_id} 目前待发货，还没有发出，所以暂时没有物流单号。订单内容：{items}。", "订单 {order_id} 还未发货，暂时没有快递单号。订单内容：{items}。"),
    },
    "status_processed": {
        "en": ("Order {order_id} has shipped. Its tracking number is {tracking}. It contains {items}.", "Good news: order {order_id} is on its way, tracking number {tracking}. Items: {items}."),
        "zh": ("订单 {order_id} 已发货，快递单号是 {tracking}。订单内容：{items}。", "订单 {order_id} 已经发出，快递单号 {tracking}。订单内容：{items}。"),
    },
    "status_delivered": {
        "en": ("Order {order_id} has been delivered (tracking number {tracking}). It contained {items}.", "Our records show order {order_id} as delivered, tracking number {tracking}. Items: {items}."),
        "zh": ("订单 {order_id} 已送达（快递单号 {tracking}）。订单内容：{items}。", "记录显示订单 {order_id} 已经送达，快递单号 {tracking}。订单内容：{items}。"),
    },
    "status_cancelled": {
        "en": ("Order {order_id} was cancelled, so it won't be shipped. It contained {items}.", "Order {order_id} is cancelled. It contained {items}."),
        "zh": ("订单 {order_id} 已被取消，不会发货。订单内容：{items}。", "订单 {order_id} 的状态是已取消。订单内容：{items}。"),
    },
    "status_no_tracking": {
        "en": ("Order {order_id} is {status}; there's no tracking number on file for it. It contains {items}.",),
        "zh": ("订单 {order_id} 的状态是{status}，暂无物流单号。订单内容：{items}。",),
    },
    "anything_else": {
        "en": ("Is there anything else I can help you with?", "Anything else I can do for you?", "Can I help with anything else?"),
        "zh": ("还有其他可以帮您的吗？", "请问还有别的问题吗？", "还有什么需要帮忙的吗？"),
    },
    "goodbye": {
        "en": ("You're welcome! Have a great day.", "Thanks for contacting us. Goodbye!", "Glad I could help. Take care!"),
        "zh": ("不客气，祝您生活愉快！", "感谢您的咨询，再见！", "很高兴为您服务，再见！"),
    },
    "ask_reason": {
        "en": ("Order {order_id} is still pending, so it can be cancelled. It contains {items}. May I ask why you'd like to cancel: is it no longer needed, or was it ordered by mistake?", "I can cancel order {order_id} ({items}). What's the reason: no longer needed, or ordered by mistake?"),
        "zh": ("订单 {order_id} 还未发货，可以取消。订单内容：{items}。请问取消原因是不再需要，还是误下单？", "订单 {order_id}（{items}）可以取消。请问原因是不再需要还是误下单？"),
    },
    "confirm_cancel": {
        "en": ("To confirm: I'll cancel order {order_id} ({items}), reason: {reason}. {refund} Shall I go ahead?", "Here's what will happen: order {order_id} ({items}) will be cancelled, reason: {reason}. {refund} Do you want me to proceed?"),
        "zh": ("确认一下：取消订单 {order_id}（{items}），原因：{reason}。{refund}请问确认取消吗？", "将为您取消订单 {order_id}，原因：{reason}。{refund}确认办理吗？"),
    },
    "done_cancel": {
        "en": ("Done: order {order_id} is now cancelled. {refund_done}", "Order {order_id} has been cancelled. {refund_done}"),
        "zh": ("已为您取消订单 {order_id}。{refund_done}", "订单 {order_id} 已取消。{refund_done}"),
    },
    "declined": {
        "en": ("All right, I haven't changed anything; order {order_id} stays as it is.", "No problem, I'll leave order {order_id} unchanged."),
        "zh": ("好的，我没有做任何更改，订单 {order_id} 保持不变。", "没问题，订单 {order_id} 不做改动。"),
    },
    "refuse_not_pending": {
        "en": ("I'm sorry, order {order_id} is {status}, so it can no longer be {verb}; only pending orders can be.", "Unfortunately order {order_id} is already {status}. Only orders that haven't shipped can be {verb}."),
        "zh": ("抱歉，订单 {order_id} 的状态是{status}，已经无法{verb}；只有待发货的订单才可以。", "很抱歉，订单 {order_id} 已经{status}，只有还未发货的订单才能{verb}。"),
    },
    "already_cancelled": {
        "en": ("Order {order_id} is already cancelled, so there's nothing left to cancel.",),
        "zh": ("订单 {order_id} 已经取消了，无需再次取消。",),
    },
    "refuse_not_delivered": {
        "en": ("I'm sorry, only delivered orders can be {verb}, and order {order_id} is {status}.", "Order {order_id} is {status}, so it can't be {verb} yet; that's possible once it's delivered."),
        "zh": ("抱歉，只有已送达的订单才能{verb}，订单 {order_id} 目前是{status}。", "订单 {order_id} 目前是{status}，暂时不能{verb}，送达后才可以办理。"),
    },
    "offer_return": {"en": ("Once it's delivered, you can return it.",), "zh": ("送达后可以申请退货。",)},
    "offer_cancel": {"en": ("If you no longer want it, I can cancel it instead.",), "zh": ("如果不想要了，我可以帮您取消订单。",)},
    "ask_return_items": {
        "en": ("Order {order_id} was delivered and contains: {items}. Which items would you like to return?", "Sure. Order {order_id} has {items}. What would you like to return?"),
        "zh": ("订单 {order_id} 已送达，包含：{items}。请问您要退哪些商品？", "好的。订单 {order_id} 里有：{items}。请问要退哪几件？"),
    },
    "ask_refund_method": {
        "en": ("The refund can go back to the original payment method ({original}) or to your gift card. Which would you prefer?", "Would you like the refund on the original payment method ({original}) or on your gift card?"),
        "zh": ("退款可以原路退回（{original}），也可以退到您的礼品卡。您希望退到哪里？", "退款是原路退回（{original}），还是退到礼品卡？"),
    },
    "confirm_return": {
        "en": ("To confirm: return {items} from order {order_id}, with a refund of {amount} to {method}. You'll get an email with instructions on how to send the items back. Shall I go ahead?", "Here are the details: from order {order_id}, return {items}; {amount} will be refunded to {method}. An email will explain how to send them back. Do you want me to proceed?"),
        "zh": ("确认一下：退回订单 {order_id} 中的{items}，退款 {amount} 退到{method}。您会收到一封说明如何寄回商品的邮件。请问确认办理吗？", "退货信息：订单 {order_id}，退回{items}，{amount} 退到{method}，之后会有邮件告诉您如何寄回。确认办理吗？"),
    },
    "done_return": {
        "en": ("Done: the return for order {order_id} is requested. You'll receive an email explaining how to send the items back, and {amount} will be refunded to {method}.", "Your return is requested for order {order_id}. Watch for an email with the return instructions; the refund of {amount} goes to {method}."),
        "zh": ("已为您申请退货，订单 {order_id}。您会收到说明如何寄回商品的邮件，{amount} 将退到{method}。", "订单 {order_id} 的退货已提交申请，请留意邮件中的寄回说明，退款 {amount} 将退到{method}。"),
    },
    "ask_exchange_items": {
        "en": ("Order {order_id} was delivered and contains: {items}. Which item would you like to exchange, and for which option?", "Sure. Order {order_id} has {items}. Which item do you want to exchange, and what would you like instead?"),
        "zh": ("订单 {order_id} 已送达，包含：{items}。请问您要换哪件商品，换成什么款式？", "好的。订单 {order_id} 里有：{items}。请问换哪件，想换成什么规格？"),
    },
    "ask_method": {
        "en": ("The {product} ({new}) is available at {price}. {difference} Which payment method should I use for the difference: {methods}?", "{product} ({new}) is in stock for {price}. {difference} Which payment method would you like for the difference: {methods}?"),
        "zh": ("{product}（{new}）有货，价格 {price}。{difference}差价用哪种支付方式结算：{methods}？", "{product}（{new}）有货，{price}。{difference}请问差价用哪个支付方式：{methods}？"),
    },
    "available": {
        "en": ("The {product} ({new}) is available at {price}.", "{product} ({new}) is in stock for {price}."),
        "zh": ("{product}（{new}）有货，价格 {price}。", "{product}（{new}）有货，{price}。"),
    },
    "confirm_exchange": {
        "en": ("To confirm: in order {order_id}, exchange the {product} ({old}) for the {product} ({new}). {difference} You'll get an email on how to send the old item back; no new order is needed. An order can only be exchanged once, so is this everything you want to exchange? Shall I go ahead?",),
        "zh": ("确认一下：订单 {order_id} 中的{product}（{old}）换成{product}（{new}）。{difference}您会收到说明如何寄回原商品的邮件，无需重新下单。每个订单只能换货一次，这些是您要换的全部商品吗？确认办理吗？",),
    },
    "done_exchange": {
        "en": ("Done: the exchange for order {order_id} is requested. You'll receive an email explaining how to send the {product} back. {difference}", "The exchange is requested for order {order_id}. An email with instructions for returning the {product} is on its way. {difference}"),
        "zh": ("已为您提交换货申请，订单 {order_id}。您会收到说明如何寄回{product}的邮件。{difference}", "订单 {order_id} 的换货申请已提交，寄回{product}的说明会发到您的邮箱。{difference}"),
    },
    "ask_new_address": {
        "en": ("Order {order_id} hasn't shipped yet, so I can change its address. What's the new shipping address?", "Sure, order {order_id} is still pending. Please give me the full new address: street, city, state and zip."),
        "zh": ("订单 {order_id} 还未发货，可以修改地址。请问新的收货地址是什么？", "好的，订单 {order_id} 还未发货。请提供完整的新地址：街道、城市、州和邮编。"),
    },
    "ask_default_address": {
        "en": ("Sure. What's the new address?", "What address should I set as your default?"),
        "zh": ("好的，请问新地址是什么？", "请问要改成哪个地址？"),
    },
    "confirm_address": {
        "en": ("To confirm: ship order {order_id} to {address}. Is that correct?", "Just to check: order {order_id} will go to {address}. Shall I make the change?"),
        "zh": ("确认一下：将订单 {order_id} 的收货地址改为 {address}。对吗？", "核对一下：订单 {order_id} 改寄到 {address}。确认修改吗？"),
    },
    "done_address": {
        "en": ("Done: order {order_id} will now ship to the new address.", "The shipping address of order {order_id} is updated."),
        "zh": ("已修改，订单 {order_id} 将寄到新地址。", "订单 {order_id} 的收货地址已更新。"),
    },
    "confirm_default_address": {
        "en": ("To confirm: make {address} the default address on your account. Orders already placed keep their address. Shall I go ahead?",),
        "zh": ("确认一下：将您账户的默认地址改为 {address}。已下的订单地址不变。确认修改吗？",),
    },
    "done_default_address": {
        "en": ("Done: your default address is updated.", "Your account's default address has been changed."),
        "zh": ("已更新您的默认地址。", "账户默认地址已修改。"),
    },
    "not_your_order": {
        "en": ("I'm sorry, order {order_id} isn't on your account, and I can only help with orders of the account I've verified. Your orders are: {orders}.", "Order {order_id} doesn't belong to your account, so I can't look at it or change it. Your orders are: {orders}."),
        "zh": ("抱歉，订单 {order_id} 不在您的账户下，我只能处理已核实账户的订单。您的订单有：{orders}。", "订单 {order_id} 不属于您的账户，我无法查看或修改。您的订单有：{orders}。"),
    },
    "refuse_friend": {
        "en": ("I understand, but I can't act on another customer's order, even with their permission. They can contact us themselves and we'll gladly help.",),
        "zh": ("理解您的心情，但即使对方同意，我也不能处理其他客户的订单。请让订单本人联系我们，我们会尽力帮助。",),
    },
    "refuse_discount": {
        "en": ("I'm sorry about the trouble. I'm not able to offer discounts, coupons or compensation. I can help with your orders, returns, exchanges or address changes.", "I understand the frustration, but I can't give discounts or coupons. What I can do is help with an order, a return or an exchange."),
        "zh": ("给您带来不便很抱歉。我无法提供折扣、优惠券或补偿，但可以帮您处理订单、退换货或修改地址。", "理解您的不满，但我不能提供折扣或优惠券。我可以帮您处理订单、退货或换货。"),
    },
    "offer_help_first": {
        "en": ("I can help with orders, returns, exchanges and your account right here. What is it about? If you'd still prefer a person, I'll transfer you.",),
        "zh": ("订单、退换货和账户问题我都可以直接帮您办理。请问是什么问题？如果您还是希望人工服务，我可以为您转接。",),
    },
    "transfer": {
        "en": ("I understand. I'm transferring you to a colleague now; they'll see our conversation.", "Of course. I'm connecting you with a human agent, who will have everything we've discussed."),
        "zh": ("明白，正在为您转接人工客服，他们会看到我们的对话记录。", "好的，马上为您转接人工客服，之前的对话内容他们都能看到。"),
    },
}  # fmt: skip

STATUS = {  # order status as the agent says it
    "en": {"pending": "pending", "processed": "shipped", "delivered": "delivered", "cancelled": "cancelled"},
    "zh": {"pending": "待发货", "processed": "已发货", "delivered": "已送达", "cancelled": "已取消"},
}  # fmt: skip
VERBS = {  # what was asked, for refusals
    "en": {"cancel": "cancelled", "address": "changed", "return": "returned", "exchange": "exchanged"},
    "zh": {"cancel": "取消", "address": "修改地址", "return": "退货", "exchange": "换货"},
}  # fmt: skip
WHEN = {
    "en": {"now": "right away", "later": "within 5 to 7 business days"},
    "zh": {"now": "立即到账", "later": "5 至 7 个工作日内到账"},
}
PRODUCTS_ZH = {
    "Action Camera": "运动相机", "Air Purifier": "空气净化器", "Backpack": "双肩包", "Bicycle": "自行车",
    "Bluetooth Speaker": "蓝牙音箱", "Bookshelf": "书架", "Coffee Maker": "咖啡机",
    "Cycling Helmet": "骑行头盔", "Desk Lamp": "台灯", "Digital Camera": "数码相机",
    "Dumbbell Set": "哑铃套装", "E-Reader": "电子阅读器", "Electric Kettle": "电热水壶",
    "Electric Toothbrush": "电动牙刷", "Espresso Machine": "意式咖啡机", "Fleece Jacket": "抓绒外套",
    "Gaming Mouse": "游戏鼠标", "Garden Hose": "花园水管", "Grill": "烤架", "Headphones": "头戴式耳机",
    "Hiking Boots": "登山靴", "Indoor Security Camera": "室内监控摄像头", "Jigsaw Puzzle": "拼图",
    "LED Light Bulb": "LED 灯泡", "Laptop": "笔记本电脑", "Luggage Set": "行李箱套装",
    "Makeup Kit": "化妆套装", "Mechanical Keyboard": "机械键盘", "Notebook": "笔记本",
    "Office Chair": "办公椅", "Patio Umbrella": "庭院遮阳伞", "Perfume": "香水", "Pet Bed": "宠物床",
    "Portable Charger": "充电宝", "Running Shoes": "跑鞋", "Skateboard": "滑板",
    "Smart Thermostat": "智能温控器", "Smart Watch": "智能手表", "Smartphone": "智能手机",
    "Sneakers": "运动鞋", "Sunglasses": "太阳镜", "T-Shirt": "T恤", "Tablet": "平板电脑",
    "Tea Kettle": "茶壶", "Vacuum Cleaner": "吸尘器", "Wall Clock": "挂钟", "Water Bottle": "水杯",
    "Wireless Earbuds": "无线耳机", "Wristwatch": "腕表", "Yoga Mat": "瑜伽垫",
}  # fmt: skip
STREETS = (
    "Oak Street", "Maple Avenue", "Pine Road", "Cedar Lane", "Elm Drive", "Lakeview Boulevard",
    "Hillside Court", "River Road", "Sunset Drive", "Park Avenue", "Willow Way", "Chestnut Street",
)  # fmt: skip
UNITS = ("Suite", "Apt", "Unit")
