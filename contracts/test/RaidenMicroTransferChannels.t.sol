// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./Vm.sol";
import {ERC223Token} from "../ERC223Token.sol";
import {RaidenMicroTransferChannels} from "../RaidenMicroTransferChannels.sol";
import {IRaidenMicroTransferChannels as I} from "../interfaces/IRaidenMicroTransferChannels.sol";

/// @notice Forge tests for what the Rust suite cannot reach on an automining chain (two
///         transactions in one block) plus a lifecycle smoke test. The main suite is in Rust.
contract RaidenMicroTransferChannelsTest is TestBase {
    ERC223Token internal token;
    RaidenMicroTransferChannels internal channels;
    uint256 internal constant SENDER_KEY = 0xA11CE;
    uint256 internal constant RECEIVER_KEY = 0xB0B;
    address internal sender;
    address internal receiver;

    function setUp() public {
        vm.roll(100);
        token = new ERC223Token(1_000_000);
        channels = new RaidenMicroTransferChannels(address(token), 10);
        sender = vm.addr(SENDER_KEY);
        receiver = vm.addr(RECEIVER_KEY);
        token.transfer(sender, 1_000);
    }

    function _sign(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    function test_SecondOpenInTheSameBlockReverts() public {
        vm.startPrank(sender);
        token.transfer(address(channels), 10, abi.encodePacked(receiver));
        bytes32 key = channels.getKey(sender, receiver, uint32(block.number));
        vm.expectRevert(abi.encodeWithSelector(I.ChannelExists.selector, key));
        token.transfer(address(channels), 10, abi.encodePacked(receiver));
        token.approve(address(channels), 10);
        vm.expectRevert(abi.encodeWithSelector(I.ChannelExists.selector, key));
        channels.createChannelERC20(receiver, 10);
        vm.stopPrank();
        assertEq(token.balanceOf(address(channels)), 10, "contract balance");
        assertEq(token.balanceOf(sender), 990, "sender balance");
    }

    function test_CooperativeCloseLifecycle() public {
        vm.prank(sender);
        token.transfer(address(channels), 30, abi.encodePacked(receiver));
        uint32 openBlock = uint32(block.number);
        bytes memory balanceSig = _sign(SENDER_KEY, channels.balanceMessageHash(receiver, openBlock, 12));
        assertEq(uint160(channels.verifyBalanceProof(receiver, openBlock, 12, balanceSig)), uint160(sender), "sender");
        bytes memory closingSig = _sign(RECEIVER_KEY, channels.closingAgreementMessageHash(balanceSig));
        channels.close(receiver, openBlock, 12, balanceSig, closingSig);
        assertEq(token.balanceOf(receiver), 12, "receiver paid");
        assertEq(token.balanceOf(sender), 988, "sender refunded");
        assertEq(token.balanceOf(address(channels)), 0, "contract emptied");
    }

    function test_SettleOnlyAfterTheChallengePeriod() public {
        vm.prank(sender);
        token.transfer(address(channels), 30, abi.encodePacked(receiver));
        uint32 openBlock = uint32(block.number);
        bytes memory balanceSig = _sign(SENDER_KEY, channels.balanceMessageHash(receiver, openBlock, 5));
        vm.prank(sender);
        channels.close(receiver, openBlock, 5, balanceSig);
        uint32 settleBlock = uint32(block.number) + 10;
        vm.roll(settleBlock);
        vm.expectRevert(abi.encodeWithSelector(I.ChallengePeriodNotOver.selector, settleBlock));
        vm.prank(sender);
        channels.settle(receiver, openBlock);
        vm.roll(settleBlock + 1);
        vm.prank(sender);
        channels.settle(receiver, openBlock);
        assertEq(token.balanceOf(receiver), 5, "receiver paid");
        assertEq(token.balanceOf(sender), 995, "sender refunded");
    }
}
